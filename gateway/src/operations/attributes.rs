//! Reading and editing the attributes of the caller's keys: Get Attributes, Get Attribute List,
//! the KMIP 1.x Add, Modify and Delete Attribute, the KMIP 2.x Set and Adjust Attribute.
//!
//! The rules are the shared KMIP ones ([`kmip::objects::attribute_edit`]); here each edit runs
//! inside a vault update, so a concurrent change to the same key is retried, not lost.

use kmip::objects::attribute_edit::{self, Edit};
use kmip::{
    AddAttributeRequest, AddAttributeResponse, AdjustAttributeRequest, AdjustAttributeResponse,
    DeleteAttributeRequest, DeleteAttributeResponse, GetAttributeListResponse,
    GetAttributesRequest, GetAttributesResponse, ModifyAttributeRequest, ModifyAttributeResponse,
    SetAttributeRequest, SetAttributeResponse,
};

use crate::operations::{Context, update};
use crate::refusal::Refusal;
use crate::vault::{Record, Vault};

pub(super) fn get_attributes<V>(
    context: &Context<'_, V>,
    record: &Record,
    request: &GetAttributesRequest,
) -> GetAttributesResponse {
    attribute_edit::get_attributes(&record.id, &record.metadata, request, context.now)
}

pub(super) fn get_attribute_list<V>(
    context: &Context<'_, V>,
    record: &Record,
) -> GetAttributeListResponse {
    attribute_edit::get_attribute_list(&record.id, &record.metadata, context.now)
}

pub(super) async fn add<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: AddAttributeRequest,
) -> Result<AddAttributeResponse, Refusal> {
    edit(context, record, |edit| edit.add_attribute(&request)).await
}

pub(super) async fn modify_attribute<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: ModifyAttributeRequest,
) -> Result<ModifyAttributeResponse, Refusal> {
    edit(context, record, |edit| edit.modify_attribute(&request)).await
}

pub(super) async fn delete<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: DeleteAttributeRequest,
) -> Result<DeleteAttributeResponse, Refusal> {
    let version = context.version();
    edit(context, record, |edit| {
        edit.delete_attribute(&request, version)
    })
    .await
}

pub(super) async fn set<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: SetAttributeRequest,
) -> Result<SetAttributeResponse, Refusal> {
    edit(context, record, |edit| edit.set_attribute(&request)).await
}

pub(super) async fn adjust<V: Vault>(
    context: &Context<'_, V>,
    record: Record,
    request: AdjustAttributeRequest,
) -> Result<AdjustAttributeResponse, Refusal> {
    edit(context, record, |edit| edit.adjust_attribute(&request)).await
}

/// Applies one edit to the key's metadata and stores it.
async fn edit<V: Vault, T>(
    context: &Context<'_, V>,
    record: Record,
    change: impl Fn(Edit<'_>) -> Result<T, Refusal>,
) -> Result<T, Refusal> {
    update(context, record, |record| {
        change(Edit {
            id: &record.id,
            metadata: &mut record.metadata,
            limits: context.keys.into(),
            now: context.now,
        })
    })
    .await
}
