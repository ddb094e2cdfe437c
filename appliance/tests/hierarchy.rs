//! The key hierarchy end to end: the real `krypton-core` binary with a real SoftHSM2 token,
//! driven by the real `kryptonctl`, and gateways speaking KMIP over mutual TLS with their own
//! certificates.
//!
//! The harness initialises SoftHSM2 first thing in `main` (it sets `SOFTHSM2_CONF`, which the
//! cores started by the tests inherit), so this suite owns its `main`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../kmip/tests/net_support/mod.rs"]
mod net_support;
#[path = "../../kmip/tests/requests/mod.rs"]
mod requests;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::process::ExitCode;
use std::sync::Arc;

use common::Site;
use common::secrets::{
    assert_absent, master_key, open_l4_v2, opens_under, record_key, service_l3s, tenant_l2,
    wrap_l4_v1,
};
use kmip::net::{Client, ClientTlsFiles, client_config};
use kmip::objects::WrapBinding;
use kmip::{
    Attribute, Authentication, BatchErrorContinuationOption, BlockCipherMode, Credential,
    CryptographicParameters, DecryptRequest, DelegatedIdentity, DestroyRequest,
    DiscoverVersionsRequest, EncryptRequest, GetRequest, Item, KmipEnum, LocateRequest, Name,
    Operation, ProtocolVersion, QueryFunction, QueryRequest, RequestBatchItem, RequestHeader,
    RequestMessage, RequestPayload, ResponseBatchItem, ResponseMessage, ResponsePayload,
    ResultReason, ResultStatus, SecretBytes, TypedRequest, UnassignedCode,
};
use krypton_dev::softhsm::{SoftHsm, Token};
use krypton_softhsm_tests::suite::{self, HsmTest};
use libtest_mimic::Failed;
use net_support::{Pki, SERVER_NAME, Subject, client_limits};

const TESTS: [(&str, HsmTest); 9] = [
    (
        "no_plaintext_key_reaches_the_disk",
        no_plaintext_key_reaches_the_disk,
    ),
    (
        "a_blob_opens_only_in_its_place_and_format_1_blobs_still_open",
        a_blob_opens_only_in_its_place_and_format_1_blobs_still_open,
    ),
    (
        "link_wrap_restart_unwrap_and_rotate",
        link_wrap_restart_unwrap_and_rotate,
    ),
    (
        "a_deleted_l1_fails_closed_for_its_tenant_only",
        a_deleted_l1_fails_closed_for_its_tenant_only,
    ),
    (
        "unlink_is_immediate_and_relink_restores",
        unlink_is_immediate_and_relink_restores,
    ),
    (
        "gateways_act_only_for_their_tenants",
        gateways_act_only_for_their_tenants,
    ),
    (
        "tenant_commands_refuse_bad_input",
        tenant_commands_refuse_bad_input,
    ),
    (
        "a_destroyed_data_key_never_unwraps_again",
        a_destroyed_data_key_never_unwraps_again,
    ),
    (
        "the_core_answers_what_it_offers_batch_by_batch",
        the_core_answers_what_it_offers_batch_by_batch,
    ),
];

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run_on_softhsm(&TESTS) }
}

/// Gateway "gw-1" serves tenants acme and beta; "gw-2" serves beta only.
const GATEWAYS: &str = r#"
[[kmip.gateways]]
identity = "gw-1"
tenants = ["acme", "beta"]
[[kmip.gateways]]
identity = "gw-2"
tenants = ["beta"]
"#;

/// A core configured with a SoftHSM2 token holding L1 keys, a KMIP listener and a test PKI.
struct Installation<'h> {
    token: Token<'h>,
    site: Site,
    pki: Pki,
    address: String,
    shares: Vec<String>,
}

impl<'h> Installation<'h> {
    /// A token `label` with one L1 per name in `l1s`, a core initialised 2-of-3 and unsealed.
    fn new(hsm: &'h SoftHsm, label: &str, l1s: &[&str]) -> Result<(Self, common::Core), Failed> {
        let token = hsm.create_token(label)?;
        for l1 in l1s {
            token.generate_l1(l1)?;
        }
        let pki = Pki::new();
        let address = krypton_dev::process::free_loopback_addr()?.to_string();
        let pin = pki.path("hsm.pin");
        std::fs::write(&pin, format!("{}\n", token.user_pin()))?;
        std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600))?;
        let site = Site::with_config(&format!(
            "\n[pkcs11]\nmodule = {module:?}\ntoken_label = {label:?}\npin = {{ file = {pin:?} }}\n\
             \n[kmip]\nlisten = {address:?}\nidentity_source = \"common_name\"\n\
             [kmip.tls]\ncert_chain = {cert:?}\nprivate_key = {key:?}\nclient_ca = {ca:?}\n{GATEWAYS}",
            module = hsm.module_path(),
            cert = pki.server.cert_chain,
            key = pki.server.private_key,
            ca = pki.server.client_ca,
        ));
        let core = site.start();
        let shares = site.init(3, 2);
        site.unseal(&[&shares[0], &shares[1]]);
        Ok((
            Self {
                token,
                site,
                pki,
                address,
                shares,
            },
            core,
        ))
    }

    /// Restarts the core and unseals it (which re-opens every tenant).
    fn restart(&self, core: &mut common::Core) -> common::Core {
        core.stop();
        let core = self.site.start();
        self.site.unseal(&[&self.shares[2], &self.shares[0]]);
        core
    }

    fn ctl(&self, args: &[&str]) -> common::Ctl {
        self.site.ctl(args)
    }

    /// A KMIP client with a certificate whose CN is `identity`.
    async fn gateway(&self, identity: &str) -> Gateway {
        let files: ClientTlsFiles = self.pki.client(identity, &Subject::common_name(identity));
        let tls = Arc::new(client_config(&files).unwrap());
        Gateway(
            Client::connect(&self.address, SERVER_NAME, tls, &client_limits())
                .await
                .unwrap(),
        )
    }
}

/// One gateway's connection to the core.
struct Gateway(Client);

/// A failed item: its reason and message.
type Refusal = (ResultReason, String);

impl Gateway {
    async fn send(&mut self, message: Item) -> ResponseMessage {
        let response = self.0.call(&message).await.unwrap();
        ResponseMessage::from_item(&response).unwrap()
    }

    /// The answers to `items` sent under `header`.
    async fn batch(
        &mut self,
        header: RequestHeader,
        items: Vec<RequestBatchItem>,
    ) -> Vec<ResponseBatchItem> {
        let message = RequestMessage {
            header,
            batch_items: items,
        };
        self.send(message.to_item()).await.batch_items
    }

    async fn one(
        &mut self,
        header: RequestHeader,
        payload: impl TypedRequest,
    ) -> Result<ResponsePayload, Refusal> {
        let message = RequestMessage {
            header,
            batch_items: vec![RequestBatchItem::new(payload)],
        };
        let response = self.send(message.to_item()).await;
        let [item] = <[_; 1]>::try_from(response.batch_items).unwrap();
        match item.result_status {
            ResultStatus::Success => Ok(item.payload.unwrap()),
            _ => Err((
                item.result_reason.unwrap(),
                item.result_message.unwrap_or_default(),
            )),
        }
    }

    /// Wraps `l4`, [`APP`]'s key `id`, under `l3`: the gateway's Encrypt.
    async fn wrap(&mut self, l3: &str, id: &str, l4: &[u8]) -> Result<Vec<u8>, Refusal> {
        let request = EncryptRequest {
            unique_identifier: Some(l3.into()),
            cryptographic_parameters: Some(gcm()),
            data: SecretBytes::new(l4.to_vec()),
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(binding(APP, id)),
        };
        match self
            .one(RequestHeader::new(ProtocolVersion::V1_4), request)
            .await?
        {
            ResponsePayload::Encrypt(response) => {
                assert_eq!(response.iv_counter_nonce, None, "the IV is in the blob");
                Ok(response.data)
            }
            other => panic!("{other:?}"),
        }
    }

    /// Unwraps [`APP`]'s key `id` from `blob` under `l3`: the gateway's Decrypt.
    async fn unwrap(&mut self, l3: &str, id: &str, blob: &[u8]) -> Result<Vec<u8>, Refusal> {
        self.unwrap_as(l3, APP, id, blob).await
    }

    /// Unwraps `owner`'s key `id` from `blob` under `l3`.
    async fn unwrap_as(
        &mut self,
        l3: &str,
        owner: &str,
        id: &str,
        blob: &[u8],
    ) -> Result<Vec<u8>, Refusal> {
        let request = DecryptRequest {
            unique_identifier: Some(l3.into()),
            cryptographic_parameters: Some(gcm()),
            data: blob.to_vec(),
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(binding(owner, id)),
            authenticated_encryption_tag: None,
        };
        match self
            .one(RequestHeader::new(ProtocolVersion::V1_4), request)
            .await?
        {
            ResponsePayload::Decrypt(response) => Ok(response.data.to_vec()),
            other => panic!("{other:?}"),
        }
    }
}

/// The application the tests' gateways wrap keys for.
const APP: &str = "app-1";

/// The additional data that binds a blob to `owner`'s key `id`.
fn binding(owner: &str, id: &str) -> Vec<u8> {
    WrapBinding::new(owner, id).encode().unwrap()
}

impl Gateway {
    /// Tells the core that [`APP`]'s L4 `id` under `l3` (`l3/<t>/<s>`) was destroyed.
    async fn shred(&mut self, l3: &str, id: &str) -> Result<ResponsePayload, Refusal> {
        let l4 = format!("l4/{}/{}", &l3[3..], hex::encode(binding(APP, id)));
        let request = DestroyRequest {
            unique_identifier: Some(l4.as_str().into()),
        };
        self.one(RequestHeader::new(ProtocolVersion::V1_4), request)
            .await
    }
}

/// A 1.4 header of a gateway forwarding for application "app-1" of `tenant`.
fn delegated(tenant: &str) -> RequestHeader {
    let mut header = RequestHeader::new(ProtocolVersion::V1_4);
    header.authentication = Some(Authentication {
        credentials: vec![Credential::Delegated(DelegatedIdentity {
            tenant: tenant.into(),
            identity: "app-1".into(),
            correlation: None,
        })],
    });
    header
}

fn gcm() -> CryptographicParameters {
    CryptographicParameters {
        block_cipher_mode: Some(BlockCipherMode::Gcm),
        ..CryptographicParameters::default()
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(net_support::bounded(future))
}

fn assert_unavailable(result: Result<Vec<u8>, Refusal>, tenant: &str) {
    let (reason, message) = result.expect_err("the tenant's keys must be out of reach");
    assert_eq!(reason, ResultReason::PermissionDenied, "{message}");
    assert!(
        message.starts_with(&format!("tenant {tenant} is unavailable")),
        "{message}"
    );
}

fn link_wrap_restart_unwrap_and_rotate(hsm: &SoftHsm) -> Result<(), Failed> {
    let (core_setup, mut core) = Installation::new(hsm, "round-trip", &["acme-l1"])?;
    let s = &core_setup;
    let out = s
        .ctl(&["tenant", "link", "acme", "--l1", "acme-l1"])
        .success();
    assert!(
        out.stdout().starts_with("tenant acme linked"),
        "{}",
        out.stdout()
    );
    let created = s
        .ctl(&["--json", "service", "create", "acme", "payments"])
        .success()
        .json();
    assert_eq!(created["unique_identifier"], "l3/acme/payments");
    assert_eq!(created["current_version"], 1);
    let l4 = [0x42u8; 32];
    let old_blob = block_on(async {
        let mut gw = s.gateway("gw-1").await;
        let blob = gw.wrap("l3/acme/payments", "key-1", &l4).await.unwrap();
        assert_eq!(blob[..5], [2, 0, 0, 0, 1], "format 2, L3 version 1");
        assert_eq!(
            gw.unwrap("l3/acme/payments", "key-1", &blob).await.unwrap(),
            l4
        );
        // The L4's identifier is bound: the blob does not open as another key's.
        let (reason, _) = gw
            .unwrap("l3/acme/payments", "key-2", &blob)
            .await
            .unwrap_err();
        assert_eq!(reason, ResultReason::CryptographicFailure);
        blob
    });

    let mut core = s.restart(&mut core);
    let tenants = s.ctl(&["--json", "tenant", "list"]).success().json();
    assert_eq!(tenants["tenants"][0]["state"], "active", "{tenants}");
    let rotated = s
        .ctl(&["--json", "service", "rotate", "acme", "payments"])
        .success()
        .json();
    assert_eq!(rotated["current_version"], 2);
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        assert_eq!(
            gw.unwrap("l3/acme/payments", "key-1", &old_blob)
                .await
                .unwrap(),
            l4,
            "a blob made before the restart unwraps after unseal"
        );
        let new_blob = gw.wrap("l3/acme/payments", "key-3", &l4).await.unwrap();
        assert_eq!(new_blob[..5], [2, 0, 0, 0, 2], "new wraps use version 2");
        assert_eq!(
            gw.unwrap("l3/acme/payments", "key-3", &new_blob)
                .await
                .unwrap(),
            l4
        );
        assert_eq!(
            gw.unwrap("l3/acme/payments", "key-1", &old_blob)
                .await
                .unwrap(),
            l4,
            "rotation keeps old blobs readable"
        );
    });
    let services = s
        .ctl(&["--json", "service", "list", "acme"])
        .success()
        .json();
    assert_eq!(services["services"][0]["current_version"], 2);
    let audit = s
        .ctl(&["audit", "tail", "--limit", "50"])
        .success()
        .stdout();
    for operation in ["tenant-link", "service-create", "service-rotate"] {
        assert!(audit.contains(operation), "{audit}");
    }
    core.stop();
    Ok(())
}

fn a_deleted_l1_fails_closed_for_its_tenant_only(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "revoked", &["acme-l1", "beta-l1"])?;
    for (tenant, l1) in [("acme", "acme-l1"), ("beta", "beta-l1")] {
        s.ctl(&["tenant", "link", tenant, "--l1", l1]).success();
        s.ctl(&["service", "create", tenant, "svc"]).success();
    }
    let l4 = [7u8; 32];
    let (acme_blob, beta_blob) = block_on(async {
        let mut gw = s.gateway("gw-1").await;
        (
            gw.wrap("l3/acme/svc", "a", &l4).await.unwrap(),
            gw.wrap("l3/beta/svc", "b", &l4).await.unwrap(),
        )
    });
    // The customer revokes Krypton's access to beta at the HSM.
    s.token.delete_key("beta-l1")?;
    let mut core = s.restart(&mut core);
    let tenants = s.ctl(&["--json", "tenant", "list"]).success().json();
    let beta = &tenants["tenants"][1];
    assert_eq!(beta["tenant"], "beta");
    assert_eq!(beta["state"], "unavailable", "{tenants}");
    assert!(
        beta["reason"]
            .as_str()
            .unwrap()
            .contains("not found in the HSM token"),
        "{beta}"
    );
    assert_eq!(tenants["tenants"][0]["state"], "active");
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        assert_unavailable(gw.unwrap("l3/beta/svc", "b", &beta_blob).await, "beta");
        assert_unavailable(gw.wrap("l3/beta/svc", "b2", &l4).await, "beta");
        assert_eq!(gw.unwrap("l3/acme/svc", "a", &acme_blob).await.unwrap(), l4);
    });
    // Relinking cannot help while the key is gone: the HSM says why.
    let out = s
        .ctl(&["--json", "tenant", "link", "beta", "--l1", "beta-l1"])
        .fails_with(13);
    assert_eq!(out.json_error()["reason"], "hsm");
    core.stop();
    Ok(())
}

fn unlink_is_immediate_and_relink_restores(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "kill-switch", &["acme-l1", "other-l1"])?;
    s.ctl(&["tenant", "link", "acme", "--l1", "acme-l1"])
        .success();
    s.ctl(&["service", "create", "acme", "payments"]).success();
    let l4 = [9u8; 48];
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        let blob = gw.wrap("l3/acme/payments", "k", &l4).await.unwrap();
        s.ctl(&["tenant", "unlink", "acme"]).success();
        // The very next request on the same connection fails.
        assert_unavailable(gw.unwrap("l3/acme/payments", "k", &blob).await, "acme");
        assert_unavailable(gw.wrap("l3/acme/payments", "k2", &l4).await, "acme");
        let tenants = s.ctl(&["--json", "tenant", "list"]).success().json();
        assert_eq!(tenants["tenants"][0]["state"], "unlinked");
        // Relink needs the same L1.
        let out = s
            .ctl(&["--json", "tenant", "link", "acme", "--l1", "other-l1"])
            .fails_with(11);
        assert_eq!(out.json_error()["reason"], "conflict");
        let out = s
            .ctl(&["--json", "tenant", "link", "acme", "--l1", "acme-l1"])
            .success()
            .json();
        assert_eq!(out["relinked"], true);
        assert_eq!(gw.unwrap("l3/acme/payments", "k", &blob).await.unwrap(), l4);

        // An unlinked tenant stays unlinked across a restart...
        s.ctl(&["tenant", "unlink", "acme"]).success();
        blob
    });
    let mut core = s.restart(&mut core);
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        let blob = gw.wrap("l3/acme/payments", "k", &l4).await;
        assert_unavailable(blob, "acme");
    });
    // ...and destroy is irreversible: confirmed, then the tenant and its keys are gone.
    s.ctl(&["tenant", "unlink", "acme", "--destroy"])
        .fails_with(2);
    s.ctl(&["tenant", "unlink", "acme", "--destroy", "--yes"])
        .success();
    let tenants = s.ctl(&["--json", "tenant", "list"]).success().json();
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 0);
    s.ctl(&["service", "list", "acme"]).fails_with(10);
    // A new link makes a new L2: nothing of the old one comes back.
    let out = s
        .ctl(&["--json", "tenant", "link", "acme", "--l1", "acme-l1"])
        .success()
        .json();
    assert_eq!(out["relinked"], false);
    s.ctl(&["service", "list", "acme"]).success();
    let audit = s
        .ctl(&["--json", "audit", "tail", "--limit", "100"])
        .success()
        .json();
    let operations: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert!(operations.contains(&"tenant-unlink"), "{operations:?}");
    assert!(operations.contains(&"tenant-destroy"), "{operations:?}");
    core.stop();
    Ok(())
}

fn gateways_act_only_for_their_tenants(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "who-may", &["acme-l1", "beta-l1"])?;
    for (tenant, l1) in [("acme", "acme-l1"), ("beta", "beta-l1")] {
        s.ctl(&["tenant", "link", tenant, "--l1", l1]).success();
        s.ctl(&["service", "create", tenant, "svc"]).success();
    }
    block_on(async {
        // gw-2 serves beta only: acme's service key is refused, whether or not it exists.
        let mut gw2 = s.gateway("gw-2").await;
        let (reason, message) = gw2.wrap("l3/acme/svc", "k", &[1; 32]).await.unwrap_err();
        assert_eq!(reason, ResultReason::PermissionDenied);
        assert!(message.contains("may not act for tenant acme"), "{message}");
        assert!(gw2.wrap("l3/beta/svc", "k", &[1; 32]).await.is_ok());
        let (reason, _) = gw2.wrap("l3/beta/nope", "k", &[1; 32]).await.unwrap_err();
        assert_eq!(reason, ResultReason::ItemNotFound);

        // A certificate from the trusted CA but not a configured gateway: refused outright, at
        // its first request, whatever it asks.
        let mut stranger = s.gateway("app-1").await;
        let (reason, message) = stranger
            .wrap("l3/beta/svc", "k", &[1; 32])
            .await
            .unwrap_err();
        assert_eq!(reason, ResultReason::AuthenticationNotSuccessful);
        assert!(message.contains("\"app-1\" is not configured"), "{message}");
        let query = s
            .gateway("app-1")
            .await
            .one(
                RequestHeader::new(ProtocolVersion::V1_4),
                QueryRequest::default(),
            )
            .await;
        assert_eq!(
            query.unwrap_err().0,
            ResultReason::AuthenticationNotSuccessful
        );

        // Forwarding for an application: only for the gateway's own tenants; the owner then
        // goes to the object registry, which answers Get only once it is connected.
        let get = || GetRequest {
            unique_identifier: Some("obj-1".into()),
            ..GetRequest::default()
        };
        let (reason, message) = gw2.one(delegated("acme"), get()).await.unwrap_err();
        assert_eq!(reason, ResultReason::PermissionDenied, "{message}");
        // For its own tenant the request reaches the object registry, which has no such
        // object for this application.
        let (reason, _) = gw2.one(delegated("beta"), get()).await.unwrap_err();
        assert_eq!(reason, ResultReason::ItemNotFound);
        // An application may never use a service key, even through its gateway.
        let encrypt = EncryptRequest {
            unique_identifier: Some("l3/beta/svc".into()),
            cryptographic_parameters: Some(gcm()),
            data: SecretBytes::new(vec![1; 32]),
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(b"k".to_vec()),
        };
        let (reason, _) = gw2.one(delegated("beta"), encrypt).await.unwrap_err();
        assert_eq!(reason, ResultReason::OperationNotSupported);

        // Discover Versions and Query are answered.
        let versions = gw2
            .one(
                RequestHeader::new(ProtocolVersion::V1_4),
                DiscoverVersionsRequest::default(),
            )
            .await
            .unwrap();
        let ResponsePayload::DiscoverVersions(versions) = versions else {
            panic!()
        };
        assert!(versions.protocol_versions.contains(&ProtocolVersion::V1_4));
        let query = gw2
            .one(
                RequestHeader::new(ProtocolVersion::V1_4),
                QueryRequest {
                    query_functions: vec![QueryFunction::QueryOperations],
                },
            )
            .await
            .unwrap();
        let ResponsePayload::Query(query) = query else {
            panic!()
        };
        assert!(query.operations.contains(&Operation::Encrypt));

        // A message that decodes as TTLV but not as a request: Invalid Message, with a reason.
        let bogus = Item {
            tag: kmip::Tag::REQUEST_MESSAGE,
            value: kmip::Value::Structure(vec![Item {
                tag: kmip::Tag::REQUEST_HEADER,
                value: kmip::Value::Structure(Vec::new()),
            }]),
        };
        let response = gw2.send(bogus).await;
        let item = &response.batch_items[0];
        assert_eq!(item.result_reason, Some(ResultReason::InvalidMessage));
        assert!(!item.result_message.as_deref().unwrap_or("").is_empty());
    });
    // Sealed: every wrap fails, saying why.
    s.ctl(&["seal"]).success();
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        let (reason, message) = gw.wrap("l3/beta/svc", "k", &[1; 32]).await.unwrap_err();
        assert_eq!(
            (reason, message.as_str()),
            (ResultReason::GeneralFailure, "krypton-core is sealed")
        );
    });
    core.stop();
    Ok(())
}

/// The core's KMIP port as the shared skeleton makes it: Query lists exactly the operations the
/// core answers (Adjust Attribute among them), and only what the Query Functions ask; each
/// listed operation reaches its handler; any other operation — codes KMIP does not define
/// included — is Operation Not Supported with the connection kept; batches of wraps run under
/// Stop, Continue and Undo, and Undo is refused for a batch that could change state.
fn the_core_answers_what_it_offers_batch_by_batch(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "offer", &["beta-l1"])?;
    s.ctl(&["tenant", "link", "beta", "--l1", "beta-l1"])
        .success();
    s.ctl(&["service", "create", "beta", "svc"]).success();
    block_on(async {
        let mut gw = s.gateway("gw-2").await;
        let v1_4 = || RequestHeader::new(ProtocolVersion::V1_4);

        let query = |functions: &[QueryFunction]| QueryRequest {
            query_functions: functions.to_vec(),
        };
        // At 2.0, which defines Set and Adjust Attribute.
        let ResponsePayload::Query(offer) = gw
            .one(
                RequestHeader::new(ProtocolVersion::V2_0),
                query(&[QueryFunction::QueryOperations]),
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        for operation in [
            Operation::AdjustAttribute,
            Operation::Encrypt,
            Operation::Get,
        ] {
            assert!(offer.operations.contains(&operation), "{offer:?}");
        }
        assert!(offer.object_types.is_empty() && offer.vendor_identification.is_none());
        let ResponsePayload::Query(about) = gw
            .one(v1_4(), query(&[QueryFunction::QueryServerInformation]))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(about.vendor_identification.as_deref(), Some("Krypton core"));
        assert!(about.operations.is_empty(), "{about:?}");
        let (reason, _) = gw.one(v1_4(), query(&[])).await.unwrap_err();
        assert_eq!(reason, ResultReason::MissingData);

        // Every listed operation reaches its handler: the gateway's own wrap and unwrap, the
        // registry's for an application (at 2.0, which defines all of them).
        for &operation in &offer.operations {
            let for_gateway = matches!(
                operation,
                Operation::Encrypt
                    | Operation::Decrypt
                    | Operation::Rewrap
                    | Operation::RewrapReport
            );
            let (mut header, id) = if for_gateway {
                (v1_4(), "l3/beta/svc")
            } else {
                (delegated("beta"), "obj-1")
            };
            header.protocol_version = ProtocolVersion::V2_0;
            let payload = requests::request(operation, id)
                .unwrap_or_else(|| panic!("no request of {operation:?} to send"));
            let item = RequestBatchItem {
                operation,
                ephemeral: None,
                unique_batch_item_id: None,
                payload,
                message_extension: None,
            };
            let answer = gw.batch(header, vec![item]).await;
            assert_ne!(
                answer[0].result_reason,
                Some(ResultReason::OperationNotSupported),
                "{operation:?}: {answer:?}"
            );
        }

        // Not offered, and not even KMIP: refused in its place, the connection served on.
        for code in [
            0x0000_00FF,
            0x00AB_CDEF,
            0x8000_0042,
            Operation::Certify.to_u32(),
        ] {
            let operation = Operation::from_u32(code)
                .or_else(|| UnassignedCode::new(code).map(Operation::Unassigned))
                .unwrap();
            let item = RequestBatchItem {
                operation,
                ephemeral: None,
                unique_batch_item_id: Some(b"x".to_vec()),
                payload: RequestPayload::Other(Item {
                    tag: kmip::Tag::REQUEST_PAYLOAD,
                    value: kmip::Value::Structure(Vec::new()),
                }),
                message_extension: None,
            };
            let answer = gw.batch(delegated("beta"), vec![item]).await;
            assert_eq!(answer[0].result_status, ResultStatus::OperationFailed);
            assert_eq!(
                answer[0].result_reason,
                Some(ResultReason::OperationNotSupported),
                "{code:#x}"
            );
            assert_eq!(answer[0].operation, Some(operation));
            assert_eq!(answer[0].unique_batch_item_id.as_deref(), Some(&b"x"[..]));
            assert!(gw.wrap("l3/beta/svc", "k", &[1; 32]).await.is_ok());
        }

        // Batches of wraps, which change nothing; the middle one names no service.
        let wrap = |service: &str| {
            RequestBatchItem::new(
                match requests::request(Operation::Encrypt, &format!("l3/beta/{service}")) {
                    Some(RequestPayload::Encrypt(request)) => EncryptRequest {
                        authenticated_encryption_additional_data: Some(binding(APP, "k")),
                        ..request
                    },
                    other => panic!("{other:?}"),
                },
            )
        };
        let wraps = || vec![wrap("svc"), wrap("nope"), wrap("svc")];
        let with = |option| {
            let mut header = v1_4();
            header.batch_error_continuation_option = Some(option);
            header
        };
        let statuses = |answers: &[ResponseBatchItem]| {
            answers
                .iter()
                .map(|answer| answer.result_status)
                .collect::<Vec<_>>()
        };
        use BatchErrorContinuationOption::{Continue, Stop, Undo};
        let stopped = gw.batch(with(Stop), wraps()).await;
        assert_eq!(
            statuses(&stopped),
            [ResultStatus::Success, ResultStatus::OperationFailed]
        );
        assert_eq!(stopped[1].result_reason, Some(ResultReason::ItemNotFound));
        let continued = gw.batch(with(Continue), wraps()).await;
        assert_eq!(
            statuses(&continued),
            [
                ResultStatus::Success,
                ResultStatus::OperationFailed,
                ResultStatus::Success
            ]
        );
        let undone = gw.batch(with(Undo), wraps()).await;
        assert_eq!(
            statuses(&undone),
            [ResultStatus::OperationUndone, ResultStatus::OperationFailed]
        );
        assert_eq!(undone[0].payload, None, "an undone wrap gives no blob");

        // Under Undo, a batch that could change state is refused whole: nothing is registered.
        let register = |name: &str| {
            let Some(RequestPayload::Register(mut request)) =
                requests::request(Operation::Register, "")
            else {
                panic!()
            };
            request.attributes = vec![Attribute::Name(Name::text(name))];
            RequestBatchItem::new(request)
        };
        let mut header = delegated("beta");
        header.batch_error_continuation_option = Some(Undo);
        let refused = gw
            .batch(header, vec![register("undo-1"), register("undo-2")])
            .await;
        for answer in &refused {
            assert_eq!(
                answer.result_reason,
                Some(ResultReason::FeatureNotSupported),
                "{answer:?}"
            );
        }
        let located = gw
            .one(
                delegated("beta"),
                LocateRequest {
                    attributes: vec![Attribute::Name(Name::text("undo-1"))],
                    ..LocateRequest::default()
                },
            )
            .await
            .unwrap();
        let ResponsePayload::Locate(located) = located else {
            panic!("{located:?}")
        };
        assert!(located.unique_identifiers.is_empty(), "{located:?}");
    });
    core.stop();
    Ok(())
}

fn tenant_commands_refuse_bad_input(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "bad-input", &["acme-l1"])?;
    let out = s
        .ctl(&["--json", "tenant", "link", "acme", "--l1", "no-such-key"])
        .fails_with(13);
    assert!(
        out.json_error()["message"]
            .as_str()
            .unwrap()
            .contains("no-such-key")
    );
    s.ctl(&["tenant", "link", "a/b", "--l1", "acme-l1"])
        .fails_with(2);
    s.ctl(&["tenant", "link", "acme", "--l1", "acme-l1"])
        .success();
    s.ctl(&["tenant", "link", "acme", "--l1", "acme-l1"])
        .fails_with(11);
    s.ctl(&["service", "create", "acme", "svc"]).success();
    s.ctl(&["service", "create", "acme", "svc"]).fails_with(11);
    s.ctl(&["service", "rotate", "acme", "nope"]).fails_with(10);
    s.ctl(&["service", "create", "ghost", "svc"]).fails_with(10);
    s.ctl(&["tenant", "unlink", "ghost"]).fails_with(10);
    core.stop();
    Ok(())
}

fn no_plaintext_key_reaches_the_disk(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "plaintext", &["acme-l1"])?;
    s.ctl(&["tenant", "link", "acme", "--l1", "acme-l1"])
        .success();
    s.ctl(&["service", "create", "acme", "svc"]).success();
    s.ctl(&["service", "rotate", "acme", "svc"]).success();
    let l4 = [0x5au8; 32];
    let registered: Vec<u8> = (0..40u8).map(|i| 0xc3 ^ i).collect();
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        for n in 0..20 {
            let id = format!("key-{n}");
            let blob = gw.wrap("l3/acme/svc", &id, &l4).await.unwrap();
            assert_eq!(gw.unwrap("l3/acme/svc", &id, &blob).await.unwrap(), l4);
        }
        // An application's Secret Data, kept by the core's registry.
        let Some(RequestPayload::Register(mut register)) =
            requests::request(Operation::Register, "")
        else {
            panic!()
        };
        if let kmip::ManagedObject::SecretData(secret) = &mut register.object {
            secret.key_block.key_material =
                kmip::KeyMaterial::Bytes(SecretBytes::new(registered.clone()));
        }
        gw.one(delegated("acme"), register).await.unwrap();
    });
    core.stop();
    // A restart replays the write-ahead log into table files: both are searched.
    s.site.start().stop();
    // Taken before the database is opened here, which could write files of its own.
    let files = common::files_under(&s.site.data_dir());

    // Recover every key as only someone with K shares AND the customer's HSM could.
    let db = s.site.open_db();
    let master = master_key(&db, &s.shares[..2]);
    let record_key = record_key(&master);
    let l2 = tenant_l2(&db, &record_key, &s.token, "acme", "acme-l1");
    let l3s = service_l3s(&db, &record_key, &l2, "acme", "svc");
    assert_eq!(l3s.len(), 2);
    // The registry's objects are sealed under the tenant's key: the master key alone (K shares
    // without the HSM) opens none of them.
    let registry = db.cf_handle("registry").unwrap();
    let objects: Vec<_> = db
        .iterator_cf(registry, rocksdb::IteratorMode::Start)
        .map(Result::unwrap)
        .collect();
    assert_eq!(objects.len(), 1, "the registered Secret Data");
    for (key, sealed) in &objects {
        assert!(!opens_under(&record_key, "registry", key, sealed));
    }
    let mut secrets = vec![
        ("master key".to_owned(), master.to_vec()),
        ("record key".to_owned(), record_key.to_vec()),
        ("L2".to_owned(), l2),
        ("L4".to_owned(), l4.to_vec()),
        ("registered Secret Data".to_owned(), registered),
    ];
    for (index, l3) in l3s.into_iter().enumerate() {
        secrets.push((format!("L3 version {}", index + 1), l3));
    }
    assert_absent(
        &files,
        &secrets,
        &[".sst", ".log", "MANIFEST-", "OPTIONS-", "LOG"],
    );
    Ok(())
}

fn a_destroyed_data_key_never_unwraps_again(hsm: &SoftHsm) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "shred", &["acme-l1", "beta-l1"])?;
    for (tenant, l1) in [("acme", "acme-l1"), ("beta", "beta-l1")] {
        s.ctl(&["tenant", "link", tenant, "--l1", l1]).success();
        s.ctl(&["service", "create", tenant, "payments"]).success();
    }
    let l4 = [7u8; 32];
    let (doomed, kept) = block_on(async {
        let mut gw = s.gateway("gw-1").await;
        let doomed = gw.wrap("l3/acme/payments", "k1", &l4).await.unwrap();
        let kept = gw.wrap("l3/acme/payments", "k2", &l4).await.unwrap();
        gw.shred("l3/acme/payments", "k1").await.unwrap();
        // Twice is once.
        gw.shred("l3/acme/payments", "k1").await.unwrap();
        let (reason, message) = gw
            .unwrap("l3/acme/payments", "k1", &doomed)
            .await
            .unwrap_err();
        assert_eq!(
            reason,
            ResultReason::ObjectDestroyed.for_version(ProtocolVersion::V1_4),
            "{message}"
        );
        assert!(message.contains("was destroyed"), "{message}");
        assert_eq!(
            gw.unwrap("l3/acme/payments", "k2", &kept).await.unwrap(),
            l4
        );
        // The same identifier under another tenant's service is another key.
        let beta = gw.wrap("l3/beta/payments", "k1", &l4).await.unwrap();
        assert_eq!(
            gw.unwrap("l3/beta/payments", "k1", &beta).await.unwrap(),
            l4
        );
        // A gateway destroys only keys of its own tenants.
        let mut other = s.gateway("gw-2").await;
        let (reason, _) = other.shred("l3/acme/payments", "k2").await.unwrap_err();
        assert_eq!(reason, ResultReason::PermissionDenied);
        (doomed, kept)
    });
    // Durable: a restart and the ceremony change nothing.
    let mut core2 = s.restart(&mut core);
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        assert!(gw.unwrap("l3/acme/payments", "k1", &doomed).await.is_err());
        assert_eq!(
            gw.unwrap("l3/acme/payments", "k2", &kept).await.unwrap(),
            l4
        );
    });
    core2.stop();
    Ok(())
}

/// A format 2 blob, as documented (GCM-SIV, bound to tenant, service, L3 version, owner and id),
/// opens only in its place; a format 1 blob, written the old way with an L3 recovered from the
/// store and the HSM, still opens by its identifier; a gateway that sends the bare identifier
/// is told to upgrade.
fn a_blob_opens_only_in_its_place_and_format_1_blobs_still_open(
    hsm: &SoftHsm,
) -> Result<(), Failed> {
    let (s, mut core) = Installation::new(hsm, "binding", &["acme-l1", "beta-l1"])?;
    for (tenant, l1) in [("acme", "acme-l1"), ("beta", "beta-l1")] {
        s.ctl(&["tenant", "link", tenant, "--l1", l1]).success();
        s.ctl(&["service", "create", tenant, "svc"]).success();
    }
    s.ctl(&["service", "create", "acme", "other"]).success();
    let l4 = [0x5au8; 32];
    let blob = block_on(async {
        let mut gw = s.gateway("gw-1").await;
        gw.wrap("l3/acme/svc", "key-1", &l4).await.unwrap()
    });

    core.stop();
    let db = s.site.open_db();
    let record_key = record_key(&master_key(&db, &s.shares[..2]));
    let l2 = tenant_l2(&db, &record_key, &s.token, "acme", "acme-l1");
    let l3 = service_l3s(&db, &record_key, &l2, "acme", "svc").remove(0);
    drop(db);
    assert_eq!(open_l4_v2(&l3, "acme", "svc", APP, "key-1", &blob), l4);
    let old_l4 = [0x6bu8; 32];
    let old = wrap_l4_v1(&l3, 1, "key-old", &old_l4);

    let mut core = s.site.start();
    s.site.unseal(&[&s.shares[0], &s.shares[1]]);
    block_on(async {
        let mut gw = s.gateway("gw-1").await;
        assert_eq!(gw.unwrap("l3/acme/svc", "key-1", &blob).await.unwrap(), l4);
        for (l3, owner, id) in [
            ("l3/acme/svc", "app-2", "key-1"),
            ("l3/acme/svc", APP, "key-2"),
            ("l3/acme/other", APP, "key-1"),
            ("l3/beta/svc", APP, "key-1"),
        ] {
            let (reason, message) = gw.unwrap_as(l3, owner, id, &blob).await.unwrap_err();
            assert_eq!(
                reason,
                ResultReason::CryptographicFailure,
                "{l3} {owner} {id}"
            );
            assert!(message.contains("owner and identifier"), "{message}");
        }

        // Format 1 binds the identifier only: any owner opens it, no other identifier does.
        for owner in [APP, "app-2"] {
            assert_eq!(
                gw.unwrap_as("l3/acme/svc", owner, "key-old", &old)
                    .await
                    .unwrap(),
                old_l4
            );
        }
        let (reason, _) = gw.unwrap("l3/acme/svc", "key-1", &old).await.unwrap_err();
        assert_eq!(reason, ResultReason::CryptographicFailure);

        // The bare identifier, as gateways sent it before the binding.
        let bare = DecryptRequest {
            unique_identifier: Some("l3/acme/svc".into()),
            cryptographic_parameters: Some(gcm()),
            data: blob.clone(),
            iv_counter_nonce: None,
            authenticated_encryption_additional_data: Some(b"key-1".to_vec()),
            authenticated_encryption_tag: None,
        };
        let (reason, message) = gw
            .one(RequestHeader::new(ProtocolVersion::V1_4), bare)
            .await
            .unwrap_err();
        assert_eq!(reason, ResultReason::InvalidField, "{message}");
        assert!(message.contains("upgrade krypton-gateway"), "{message}");
    });
    core.stop();
    Ok(())
}
