//! Reading and editing an object's attributes: Get Attributes, Get Attribute List, the KMIP 1.x
//! Add, Modify and Delete Attribute, the KMIP 2.x Set and Adjust Attribute.
//!
//! Reads show every attribute, with the state as it is now. Edits reach only the client's
//! attributes ([`crate::objects::attribute_policy`]); the server's own change only through
//! Create, Register and the lifecycle operations, and an edit of one is refused as read-only.
//! Every edit is checked against the policy and limits as a whole, and sets the Last Change
//! Date; a refused edit changes nothing. Each edit takes the request by reference, so a server
//! that retries after a concurrent change can apply it again.

use crate::attribute_type::AttributeReference;
use crate::attributes::{Attribute, VendorAttribute};
use crate::datetime::DateTime;
use crate::enums::{AdjustmentType, ResultReason};
use crate::objects::attribute_policy::{
    AttributeLimits, admit, describe, is_multi_valued, is_server_managed, read_only,
};
use crate::objects::lifecycle::touch;
use crate::objects::metadata::Metadata;
use crate::objects::refusal::Refusal;
use crate::operations::{
    AddAttributeRequest, AddAttributeResponse, AdjustAttributeRequest, AdjustAttributeResponse,
    DeleteAttributeRequest, DeleteAttributeResponse, GetAttributeListResponse,
    GetAttributesRequest, GetAttributesResponse, ModifyAttributeRequest, ModifyAttributeResponse,
    SetAttributeRequest, SetAttributeResponse,
};
use crate::ttlv::Value;
use crate::version::ProtocolVersion;

/// Get Attributes of object `id`: those the request names, or all of them.
#[must_use]
pub fn get_attributes(
    id: &str,
    metadata: &Metadata,
    request: &GetAttributesRequest,
    now: DateTime,
) -> GetAttributesResponse {
    let wanted = &request.attribute_references;
    let attributes = metadata
        .attributes(id, now)
        .into_iter()
        .filter(|attribute| wanted.is_empty() || wanted.contains(&attribute.reference()))
        .collect();
    GetAttributesResponse {
        unique_identifier: id.to_owned(),
        attributes,
    }
}

/// Get Attribute List of object `id`: each attribute it has, once.
#[must_use]
pub fn get_attribute_list(
    id: &str,
    metadata: &Metadata,
    now: DateTime,
) -> GetAttributeListResponse {
    let mut attribute_references: Vec<AttributeReference> = Vec::new();
    for attribute in metadata.attributes(id, now) {
        let reference = attribute.reference();
        if !attribute_references.contains(&reference) {
            attribute_references.push(reference);
        }
    }
    GetAttributeListResponse {
        unique_identifier: id.to_owned(),
        attribute_references,
    }
}

/// Where an edit applies: the object, the limits its attributes must stay within, and the time.
#[derive(Debug)]
pub struct Edit<'a> {
    pub id: &'a str,
    pub metadata: &'a mut Metadata,
    pub limits: AttributeLimits,
    pub now: DateTime,
}

impl Edit<'_> {
    /// Add Attribute: one more instance.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the attribute is the server's, single-valued and present, or over
    /// the limits.
    pub fn add_attribute(
        self,
        request: &AddAttributeRequest,
    ) -> Result<AddAttributeResponse, Refusal> {
        let attribute = request.attribute.clone();
        let id = self.id.to_owned();
        self.apply(|attributes| {
            attributes.push(attribute.clone());
            Ok(())
        })?;
        Ok(AddAttributeResponse {
            unique_identifier: id,
            attribute: Some(attribute),
        })
    }

    /// Modify Attribute: a new value for the instance named by value or index (the first).
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the instance is missing, the attribute is the server's, or the
    /// request changes which attribute it is.
    pub fn modify_attribute(
        self,
        request: &ModifyAttributeRequest,
    ) -> Result<ModifyAttributeResponse, Refusal> {
        let new = &request.new_attribute;
        let reference = new.reference();
        if let Some(current) = &request.current_attribute
            && current.reference() != reference
        {
            return Err(Refusal::new(
                ResultReason::InvalidField,
                "Modify Attribute changes an attribute's value, not which attribute it is",
            ));
        }
        let id = self.id.to_owned();
        self.apply(|attributes| {
            let at = match &request.current_attribute {
                Some(current) => instance(attributes, current)?,
                None => nth(attributes, &reference, request.attribute_index)?,
            };
            attributes[at] = new.clone();
            Ok(())
        })?;
        Ok(ModifyAttributeResponse {
            unique_identifier: id,
            attribute: Some(new.clone()),
        })
    }

    /// Delete Attribute: the instance named by value or index; in KMIP 2.x a reference alone
    /// deletes every instance.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] when the instance is missing or the attribute is the server's.
    pub fn delete_attribute(
        self,
        request: &DeleteAttributeRequest,
        version: ProtocolVersion,
    ) -> Result<DeleteAttributeResponse, Refusal> {
        let reference = &request.attribute;
        if is_server_managed(reference) {
            return Err(read_only(reference));
        }
        let every_instance = version.uses_tagged_attributes();
        let id = self.id.to_owned();
        let deleted = self.apply(|attributes| {
            if let Some(current) = &request.current_attribute {
                return Ok(attributes.remove(instance(attributes, current)?));
            }
            if every_instance && request.attribute_index.is_none() {
                let first = nth(attributes, reference, None)?;
                let deleted = attributes.remove(first);
                attributes.retain(|attribute| attribute.reference() != *reference);
                return Ok(deleted);
            }
            Ok(attributes.remove(nth(attributes, reference, request.attribute_index)?))
        })?;
        Ok(DeleteAttributeResponse {
            unique_identifier: id,
            attribute: Some(deleted),
        })
    }

    /// Set Attribute (KMIP 2.x): the value of a single-valued attribute, added if missing.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] for a multi-valued attribute or one of the server's.
    pub fn set_attribute(
        self,
        request: &SetAttributeRequest,
    ) -> Result<SetAttributeResponse, Refusal> {
        let new = &request.new_attribute;
        let reference = new.reference();
        if is_multi_valued(&reference) {
            return Err(Refusal::new(
                ResultReason::MultiValuedAttribute,
                format!(
                    "{} takes several values: use Add Attribute",
                    describe(&reference)
                ),
            ));
        }
        let id = self.id.to_owned();
        self.apply(|attributes| {
            match attributes.iter().position(|a| a.reference() == reference) {
                Some(at) => attributes[at] = new.clone(),
                None => attributes.push(new.clone()),
            }
            Ok(())
        })?;
        Ok(SetAttributeResponse {
            unique_identifier: id,
        })
    }

    /// Adjust Attribute (KMIP 2.x): a number, date or boolean moved by the request.
    ///
    /// # Errors
    ///
    /// A [`Refusal`] for a multi-valued, missing or server-managed attribute, or an adjustment
    /// its type does not allow or that would overflow.
    pub fn adjust_attribute(
        self,
        request: &AdjustAttributeRequest,
    ) -> Result<AdjustAttributeResponse, Refusal> {
        let reference = &request.attribute_reference;
        if is_multi_valued(reference) {
            return Err(Refusal::new(
                ResultReason::MultiValuedAttribute,
                format!(
                    "{} takes several values and cannot be adjusted",
                    describe(reference)
                ),
            ));
        }
        let id = self.id.to_owned();
        self.apply(|attributes| {
            let at = nth(attributes, reference, None)?;
            attributes[at] = adjusted(
                &attributes[at],
                request.adjustment_type,
                request.adjustment_value.as_ref(),
            )
            .ok_or_else(|| {
                Refusal::new(
                    ResultReason::InvalidField,
                    format!(
                        "{} cannot be adjusted by {:?} with that value",
                        describe(reference),
                        request.adjustment_type
                    ),
                )
            })?;
            Ok(())
        })?;
        Ok(AdjustAttributeResponse {
            unique_identifier: id,
        })
    }

    /// Applies `change` to a copy of the client attributes, checks the result against the
    /// policy and limits, and only then keeps it.
    fn apply<T>(
        self,
        change: impl FnOnce(&mut Vec<Attribute>) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        let mut attributes = self.metadata.client_attributes.clone();
        let outcome = change(&mut attributes)?;
        admit(&attributes, self.limits)?;
        self.metadata.client_attributes = attributes;
        touch(self.metadata, self.now);
        Ok(outcome)
    }
}

/// The position of the instance equal to `current`.
fn instance(attributes: &[Attribute], current: &Attribute) -> Result<usize, Refusal> {
    if is_server_managed(&current.reference()) {
        return Err(read_only(&current.reference()));
    }
    attributes
        .iter()
        .position(|attribute| attribute == current)
        .ok_or_else(|| {
            Refusal::new(
                ResultReason::AttributeInstanceNotFound,
                format!("the object has no such {}", describe(&current.reference())),
            )
        })
}

/// The position of instance `index` (the first when `None`) of `reference`.
fn nth(
    attributes: &[Attribute],
    reference: &AttributeReference,
    index: Option<i32>,
) -> Result<usize, Refusal> {
    if is_server_managed(reference) {
        return Err(read_only(reference));
    }
    let index = usize::try_from(index.unwrap_or(0)).ok();
    attributes
        .iter()
        .enumerate()
        .filter(|(_, attribute)| attribute.reference() == *reference)
        .nth(index.unwrap_or(usize::MAX))
        .map(|(at, _)| at)
        .ok_or_else(|| {
            Refusal::new(
                ResultReason::AttributeNotFound,
                format!("the object has no such {}", describe(reference)),
            )
        })
}

/// `attribute` adjusted as KMIP 2.x Adjust Attribute asks, or `None` if its type does not
/// allow it or the result would overflow.
fn adjusted(attribute: &Attribute, how: AdjustmentType, by: Option<&Value>) -> Option<Attribute> {
    if let Attribute::Vendor(vendor) = attribute {
        return Some(Attribute::Vendor(VendorAttribute {
            value: adjusted_value(&vendor.value, how, by)?,
            ..vendor.clone()
        }));
    }
    let mut item = attribute.to_item(ProtocolVersion::V2_1)?;
    item.value = adjusted_value(&item.value, how, by)?;
    Attribute::from_item(&item, ProtocolVersion::V2_1).ok()
}

fn adjusted_value(value: &Value, how: AdjustmentType, by: Option<&Value>) -> Option<Value> {
    use AdjustmentType::{Decrement, Increment, Negate};
    Some(match (value, how, by) {
        (Value::Integer(v), Increment, Some(Value::Integer(d))) => {
            Value::Integer(v.checked_add(*d)?)
        }
        (Value::Integer(v), Decrement, Some(Value::Integer(d))) => {
            Value::Integer(v.checked_sub(*d)?)
        }
        (Value::Integer(v), Negate, None) => Value::Integer(v.checked_neg()?),
        (Value::LongInteger(v), Increment, Some(Value::LongInteger(d))) => {
            Value::LongInteger(v.checked_add(*d)?)
        }
        (Value::LongInteger(v), Decrement, Some(Value::LongInteger(d))) => {
            Value::LongInteger(v.checked_sub(*d)?)
        }
        (Value::LongInteger(v), Negate, None) => Value::LongInteger(v.checked_neg()?),
        (Value::DateTime(v), Increment, Some(Value::Interval(d))) => {
            Value::DateTime(v.checked_add(i64::from(*d))?)
        }
        (Value::DateTime(v), Decrement, Some(Value::Interval(d))) => {
            Value::DateTime(v.checked_sub(i64::from(*d))?)
        }
        (Value::Interval(v), Increment, Some(Value::Interval(d))) => {
            Value::Interval(v.checked_add(*d)?)
        }
        (Value::Interval(v), Decrement, Some(Value::Interval(d))) => {
            Value::Interval(v.checked_sub(*d)?)
        }
        (Value::Boolean(v), Negate, None) => Value::Boolean(!v),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crate::attribute_values::Name;
    use crate::enums::State;

    use super::*;

    #[test]
    fn adjusts_numbers_dates_and_booleans_only() {
        let date = Attribute::ProtectStopDate(DateTime(100));
        assert_eq!(
            adjusted(&date, AdjustmentType::Increment, Some(&Value::Interval(50))),
            Some(Attribute::ProtectStopDate(DateTime(150)))
        );
        assert_eq!(
            adjusted(&Attribute::Sensitive(true), AdjustmentType::Negate, None),
            Some(Attribute::Sensitive(false))
        );
        let counter = Attribute::Vendor(VendorAttribute {
            vendor_identification: "x".into(),
            attribute_name: "uses".into(),
            value: Value::Integer(i32::MAX),
        });
        assert_eq!(
            adjusted(
                &counter,
                AdjustmentType::Increment,
                Some(&Value::Integer(1))
            ),
            None,
            "overflow is refused"
        );
        assert_eq!(
            adjusted(
                &Attribute::Description("d".into()),
                AdjustmentType::Increment,
                Some(&Value::Integer(1))
            ),
            None
        );
    }

    #[test]
    fn instances_are_found_by_value_or_index() {
        let attributes = vec![
            Attribute::Name(Name::text("a")),
            Attribute::Description("d".into()),
            Attribute::Name(Name::text("b")),
        ];
        let name = Attribute::Name(Name::text("b")).reference();
        assert_eq!(nth(&attributes, &name, Some(1)).unwrap(), 2);
        assert_eq!(nth(&attributes, &name, None).unwrap(), 0);
        assert_eq!(
            nth(&attributes, &name, Some(2)).unwrap_err().reason,
            ResultReason::AttributeNotFound
        );
        assert_eq!(
            nth(&attributes, &name, Some(-1)).unwrap_err().reason,
            ResultReason::AttributeNotFound
        );
        assert_eq!(
            instance(&attributes, &Attribute::Name(Name::text("b"))).unwrap(),
            2
        );
        let state = Attribute::State(State::Active);
        assert_eq!(
            instance(&attributes, &state).unwrap_err().reason,
            ResultReason::ReadOnlyAttribute
        );
    }
}
