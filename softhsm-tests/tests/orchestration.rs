//! The governance plane driving the core: the real binaries (krypton-dev's `Stack`: SoftHSM2
//! L1, core, gateway, mutual TLS) with the core's orchestration API on, called over gRPC with
//! mutual TLS as Orbital would, and PyKMIP as the application that feels each change through
//! the gateway.
//!
//! Runs the debug binaries of the workspace (`cargo test --workspace` builds them).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::error::Error as _;
use std::process::ExitCode;
use std::time::Duration;

use krypton_control_api::error_detail;
use krypton_control_api::orchestration::v1::{
    DesiredState, DesiredTenant, GetStateRequest, LinkTenantRequest, ServiceRequest, TaskResult,
    TenantState, UnlinkTenantRequest,
};
use krypton_control_api::v1::ErrorReason;
use krypton_dev::Stack;
use krypton_dev::broker::{BROKER_USER, RabbitServer};
use krypton_dev::config::{OrchestrationAmqp, Password};
use krypton_dev::orbital::{self, OrchestrationClient};
use krypton_dev::orbital::{Received, TaskBroker};
use krypton_dev::pki::{Ca, DevPki, ORCHESTRATOR_IDENTITY, Subject, client_params};
use krypton_dev::stack::claim_data_dir;
use krypton_dev::vault_server::Crashable;
use krypton_softhsm_tests::pykmip::{App, reason};
use krypton_softhsm_tests::suite::{self, Fixture, REOPEN_LIMIT, Test};
use serde_json::{Value, json};

use tonic::Code;

const ALICE: &str = "app-alice";

const TESTS: [(&str, Test); 7] = [
    (
        "link_and_unlink_calls_drive_the_gateway_once_per_task",
        link_and_unlink_calls_drive_the_gateway_once_per_task,
    ),
    (
        "a_desired_state_converges_once_and_stale_generations_are_refused",
        a_desired_state_converges_once_and_stale_generations_are_refused,
    ),
    (
        "certificates_of_no_orchestrator_are_refused",
        certificates_of_no_orchestrator_are_refused,
    ),
    (
        "an_orchestrator_certificate_put_on_the_crl_is_refused_without_a_restart",
        an_orchestrator_certificate_put_on_the_crl_is_refused_without_a_restart,
    ),
    (
        "broker_tasks_act_once_and_poison_is_dead_lettered",
        broker_tasks_act_once_and_poison_is_dead_lettered,
    ),
    (
        "a_broker_killed_mid_stream_loses_no_task_and_repeats_none",
        a_broker_killed_mid_stream_loses_no_task_and_repeats_none,
    ),
    (
        "tasks_travel_over_amqps_to_the_configured_ca",
        tasks_travel_over_amqps_to_the_configured_ca,
    ),
];

/// How long a task may take to be answered on the results exchange: a bound against a hang.
const RESULT_LIMIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    // SAFETY: first statement of main; no other thread exists yet.
    unsafe { suite::run(&TESTS) }
}

fn orchestrated(fixture: &Fixture) -> Stack {
    fixture.stack_configured(|config| config.orchestration = true)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The orchestration client of `stack`, as Orbital.
fn orbital(stack: &Stack) -> OrchestrationClient {
    let pki = stack.pki();
    orbital::connect(
        stack.core_orchestration().unwrap(),
        &pki.orchestrator,
        &pki.ca,
    )
    .unwrap()
}

fn assert_refused_for_the_tenant(alice: &App, uid: &str) {
    let results = alice.run(&json!([{"op": "get", "uid": uid}]));
    assert_eq!(reason(&results[0]), "PERMISSION_DENIED", "{}", results[0]);
}

/// The connection was closed before any request reached the service: no answer of the core's
/// (which would carry a typed detail), only the transport's failure, whose code depends on when
/// the client noticed (reset, closed, cancelled).
fn assert_refused_by_the_transport(status: &tonic::Status) {
    assert!(error_detail(status).is_none(), "{status:?}");
    assert!(status.source().is_some(), "{status:?}");
}

fn link_and_unlink_calls_drive_the_gateway_once_per_task(fixture: &Fixture) {
    let stack = orchestrated(fixture);
    let rt = runtime();
    // The client's connection lives on this runtime.
    let _inside = rt.enter();
    let mut orbital = orbital(&stack);
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("orchestrated");
    let key = alice.get(&uid);
    let tenant = stack.config().tenant.clone();
    let l1 = fixture.hsm().l1_label.clone();

    let state = rt
        .block_on(orbital.get_state(GetStateRequest {
            tenant: tenant.clone(),
        }))
        .unwrap()
        .into_inner();
    assert_eq!(state.tenants.len(), 1);
    assert_eq!(state.tenants[0].state(), TenantState::Active);
    assert_eq!(state.tenants[0].l1_label, l1);
    assert_eq!(state.tenants[0].services[0].service, stack.config().service);

    // UNLINK_KEY: the kill switch, felt by the application at once.
    let unlink = UnlinkTenantRequest {
        task_id: "task-unlink-1".to_owned(),
        tenant: tenant.clone(),
        destroy: false,
    };
    let first = rt
        .block_on(orbital.unlink_tenant(unlink.clone()))
        .unwrap()
        .into_inner();
    assert!(first.changed, "{first:?}");
    assert_refused_for_the_tenant(&alice, &uid);
    // The same task delivered again acts no more, and names the first effect.
    let again = rt
        .block_on(orbital.unlink_tenant(unlink))
        .unwrap()
        .into_inner();
    assert_eq!(
        again,
        TaskResult {
            changed: false,
            audit_sequence: first.audit_sequence,
            note: "this task already took effect".to_owned(),
        }
    );

    // LINK_KEY with the L1 reference: the tenant's keys are back.
    let link = |task: &str, l1: &str| LinkTenantRequest {
        task_id: task.to_owned(),
        tenant: tenant.clone(),
        l1_label: l1.to_owned(),
    };
    let linked = rt
        .block_on(orbital.link_tenant(link("task-link-1", &l1)))
        .unwrap()
        .into_inner();
    assert!(linked.changed && linked.note == "relinked", "{linked:?}");
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    // Linking again, under a new task id, finds the state already there.
    let noop = rt
        .block_on(orbital.link_tenant(link("task-link-2", &l1)))
        .unwrap()
        .into_inner();
    assert!(!noop.changed && noop.note == "already linked", "{noop:?}");
    // Another L1 for a linked tenant is a conflict, with the core's typed reason.
    let status = rt
        .block_on(orbital.link_tenant(link("task-link-3", "some-other-l1")))
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    assert_eq!(
        error_detail(&status).unwrap().reason(),
        ErrorReason::Conflict
    );

    // ROTATE_SERVICE is not idempotent by state: the task id alone keeps it to one version.
    let rotate = ServiceRequest {
        task_id: "task-rotate-1".to_owned(),
        tenant: tenant.clone(),
        service: stack.config().service.clone(),
    };
    for _ in 0..3 {
        rt.block_on(orbital.rotate_service(rotate.clone())).unwrap();
    }
    let state = rt
        .block_on(orbital.get_state(GetStateRequest {
            tenant: tenant.clone(),
        }))
        .unwrap()
        .into_inner();
    assert_eq!(state.tenants[0].services[0].current_version, 2);
    assert_eq!(alice.get(&uid), key);

    // Every effect is in the core's audit log with the orchestrator and the task.
    let callers: Vec<String> = stack
        .core()
        .ctl()
        .audit_search(20, &[("--caller", "orchestrator=")])
        .unwrap()
        .iter()
        .map(|record| record["caller"].as_str().unwrap_or_default().to_owned())
        .collect();
    for task in ["task-unlink-1", "task-link-1", "task-rotate-1"] {
        let expected = format!("orchestrator=orbital task={task}");
        assert_eq!(
            callers.iter().filter(|c| **c == expected).count(),
            1,
            "{callers:?}"
        );
    }
}

fn a_desired_state_converges_once_and_stale_generations_are_refused(fixture: &Fixture) {
    const ACME_L1: &str = "orchestrated-acme-l1";
    fixture.new_l1(ACME_L1);
    let stack = orchestrated(fixture);
    let rt = runtime();
    // The client's connection lives on this runtime.
    let _inside = rt.enter();
    let mut orbital = orbital(&stack);
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("desired");
    let key = alice.get(&uid);
    let demo = |linked: bool| DesiredTenant {
        tenant: stack.config().tenant.clone(),
        l1_label: fixture.hsm().l1_label.clone(),
        linked,
        services: vec![stack.config().service.clone(), "billing".to_owned()],
    };
    let acme = DesiredTenant {
        tenant: "acme".to_owned(),
        l1_label: ACME_L1.to_owned(),
        linked: true,
        services: vec!["payments".to_owned()],
    };
    let state = |generation: u64, tenants: Vec<DesiredTenant>| DesiredState {
        generation,
        tenants,
    };
    let actions = |report: &krypton_control_api::orchestration::v1::ApplyReport| {
        let mut actions: Vec<String> = report
            .changes
            .iter()
            .map(|c| {
                format!("{} {} {}", c.action, c.tenant, c.service)
                    .trim()
                    .to_owned()
            })
            .collect();
        actions.sort();
        actions
    };

    let first = rt
        .block_on(orbital.apply_desired_state(state(1, vec![demo(true), acme.clone()])))
        .unwrap()
        .into_inner();
    assert!(first.failures.is_empty(), "{first:?}");
    assert_eq!(
        actions(&first),
        [
            "create-service acme payments",
            "create-service demo billing",
            "link acme"
        ]
    );
    // The same state again: converged, nothing to do.
    let second = rt
        .block_on(orbital.apply_desired_state(state(1, vec![demo(true), acme.clone()])))
        .unwrap()
        .into_inner();
    assert!(
        second.changes.is_empty() && second.failures.is_empty(),
        "{second:?}"
    );
    assert_eq!(alice.get(&uid), key);
    // An older generation is refused before anything changes.
    let stale = rt
        .block_on(orbital.apply_desired_state(state(0, vec![])))
        .unwrap_err();
    assert_eq!(
        error_detail(&stale).unwrap().reason(),
        ErrorReason::Conflict,
        "{stale:?}"
    );
    assert_eq!(alice.get(&uid), key);

    // Generation 2 leaves acme out and marks demo unlinked: both are unlinked, the kill switch
    // reaches the application.
    let third = rt
        .block_on(orbital.apply_desired_state(state(2, vec![demo(false)])))
        .unwrap()
        .into_inner();
    assert_eq!(actions(&third), ["unlink acme", "unlink demo"], "{third:?}");
    assert_refused_for_the_tenant(&alice, &uid);
    // Generation 3 wants demo back: relinked, and the key reads again.
    let fourth = rt
        .block_on(orbital.apply_desired_state(state(3, vec![demo(true)])))
        .unwrap()
        .into_inner();
    assert_eq!(actions(&fourth), ["relink demo"], "{fourth:?}");
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);
    let actual = rt
        .block_on(orbital.get_state(GetStateRequest::default()))
        .unwrap()
        .into_inner();
    assert_eq!(actual.generation, 3);
    let acme_now = actual.tenants.iter().find(|t| t.tenant == "acme").unwrap();
    assert_eq!(acme_now.state(), TenantState::Unlinked);
}

fn certificates_of_no_orchestrator_are_refused(fixture: &Fixture) {
    let stack = orchestrated(fixture);
    let rt = runtime();
    // The client's connection lives on this runtime.
    let _inside = rt.enter();
    let pki = stack.pki();
    let addr = stack.core_orchestration().unwrap();
    let unlink = UnlinkTenantRequest {
        task_id: String::new(),
        tenant: stack.config().tenant.clone(),
        destroy: true,
    };

    // An application's certificate: the right CA, but no orchestrator.
    let (_, alice) = &pki.apps[0];
    let mut as_alice = orbital::connect(addr, alice, &pki.ca).unwrap();
    let refused = rt
        .block_on(as_alice.unlink_tenant(unlink.clone()))
        .unwrap_err();
    assert_refused_by_the_transport(&refused);

    // An orchestrator's name from another CA.
    let dir = tempfile::tempdir().unwrap();
    let other = Ca::new("not the core's CA").unwrap();
    let params = client_params(&Subject::common_name("orbital")).unwrap();
    let forged = other.issue(&params, dir.path(), "forged").unwrap();
    let mut forger = orbital::connect(addr, &forged, &pki.ca).unwrap();
    let refused = rt.block_on(forger.unlink_tenant(unlink)).unwrap_err();
    assert_refused_by_the_transport(&refused);

    // The core says why, in its log.
    let log = std::fs::read_to_string(stack.core().log()).unwrap();
    assert!(
        log.contains("orchestration connection refused") && log.contains("is not an orchestrator"),
        "{log}"
    );

    // Nothing was unlinked; the real orchestrator is served.
    assert_eq!(
        stack
            .core()
            .ctl()
            .tenant_state(&stack.config().tenant)
            .unwrap()
            .as_deref(),
        Some("active")
    );
    let mut orbital = orbital(&stack);
    rt.block_on(orbital.get_state(GetStateRequest::default()))
        .unwrap();
}

/// Revocation on the orchestration listener: the stack's PKI is made here, by a CA this test
/// keeps, so that it can issue a second orchestrator certificate and later revoke it.
fn an_orchestrator_certificate_put_on_the_crl_is_refused_without_a_restart(fixture: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("stack");
    claim_data_dir(&data_dir).unwrap();
    let ca = Ca::new("a CA this test keeps").unwrap();
    let crl = dir.path().join("orchestrators.crl.pem");
    std::fs::write(&crl, ca.revocation_list(1, &[]).unwrap()).unwrap();
    let stack = fixture.stack_configured(|config| {
        let apps: Vec<&str> = config.apps.iter().map(String::as_str).collect();
        DevPki::issued_by(&ca, &data_dir.join("pki"), &apps).unwrap();
        config.data_dir = Some(data_dir.clone());
        config.orchestration = true;
        config.orchestrator_crls = vec![crl.clone()];
    });
    let rt = runtime();
    let _inside = rt.enter();
    let pki = stack.pki();
    let addr = stack.core_orchestration().unwrap();
    let mut params = client_params(&Subject::common_name(ORCHESTRATOR_IDENTITY)).unwrap();
    params.serial_number = Some(STOLEN_SERIAL.into());
    let stolen = ca
        .issue(&params, dir.path(), "stolen-orchestrator")
        .unwrap();
    let state_as = |files| {
        let mut client = orbital::connect(addr, files, &pki.ca).unwrap();
        rt.block_on(client.get_state(GetStateRequest::default()))
    };
    state_as(&stolen).unwrap();

    std::fs::write(&crl, ca.revocation_list(2, &[STOLEN_SERIAL]).unwrap()).unwrap();
    // The core reads a changed list within a second, at the next handshake.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        match state_as(&stolen) {
            Err(status) => break status,
            Ok(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(_) => panic!("the revoked orchestrator certificate is still served"),
        }
    };
    assert_refused_by_the_transport(&refused);
    state_as(&pki.orchestrator).unwrap();
    let log = std::fs::read_to_string(stack.core().log()).unwrap();
    assert!(
        log.contains("orchestration connection refused") && log.contains("Revoked"),
        "{log}"
    );
}

/// The serial number of the orchestrator certificate that is revoked.
const STOLEN_SERIAL: u64 = 4242;

/// The queues and exchange of one test on a shared broker.
#[derive(Debug, Clone)]
struct Queues {
    tasks: String,
    unlinks: String,
    results: String,
    dead: String,
    /// The test's own queue, bound to every result.
    seen: String,
}

impl Queues {
    fn named(prefix: &str) -> Self {
        Self {
            tasks: format!("{prefix}.tasks"),
            unlinks: format!("{prefix}.tasks.unlink"),
            results: format!("{prefix}.results"),
            dead: format!("{prefix}.tasks.dead"),
            seen: format!("{prefix}.results.seen"),
        }
    }
}

/// A stack whose core takes tasks from `broker` on `queues`, over TLS if the broker takes it.
fn on_broker(fixture: &Fixture, broker: &RabbitServer, queues: &Queues) -> Stack {
    let (url, server_ca) = match broker.tls() {
        Some((addr, ca)) => (
            format!("amqps://localhost:{}/%2f", addr.port()),
            Some(ca.to_owned()),
        ),
        None => (format!("amqp://{}/%2f", broker.addr()), None),
    };
    let amqp = OrchestrationAmqp {
        url,
        username: BROKER_USER.to_owned(),
        password: Password::File(broker.password_file().to_owned()),
        server_ca,
        task_queue: queues.tasks.clone(),
        unlink_queue: queues.unlinks.clone(),
        results_exchange: queues.results.clone(),
        dead_letter_queue: queues.dead.clone(),
        max_attempts: 2,
    };
    fixture.stack_configured(|config| config.amqp = Some(amqp))
}

/// The governance plane's side: its queues declared before the core's, results bound.
async fn governance_plane(broker: &RabbitServer, queues: &Queues) -> TaskBroker {
    let plane = TaskBroker::connect(
        &format!("amqp://{}/%2f", broker.addr()),
        BROKER_USER,
        broker.password_file(),
    )
    .await
    .unwrap();
    for queue in [&queues.tasks, &queues.unlinks, &queues.dead] {
        plane.declare_queue(queue).await.unwrap();
    }
    plane
        .bind_results(&queues.results, &queues.seen)
        .await
        .unwrap();
    plane
}

async fn publish(plane: &TaskBroker, queue: &str, task: &Value) {
    plane
        .publish(queue, task.to_string().as_bytes())
        .await
        .unwrap();
}

/// The next result the core published.
async fn next_result(plane: &TaskBroker, queues: &Queues) -> Value {
    let received = plane.next(&queues.seen, RESULT_LIMIT).await.unwrap();
    let received = received.unwrap_or_else(|| panic!("no result within {RESULT_LIMIT:?}"));
    serde_json::from_slice(&received.body).unwrap()
}

async fn next_dead(plane: &TaskBroker, queues: &Queues) -> Received {
    let received = plane.next(&queues.dead, RESULT_LIMIT).await.unwrap();
    received.unwrap_or_else(|| panic!("nothing dead-lettered within {RESULT_LIMIT:?}"))
}

fn broker_tasks_act_once_and_poison_is_dead_lettered(fixture: &Fixture) {
    let broker = RabbitServer::shared().unwrap();
    let queues = Queues::named("once");
    let rt = runtime();
    let plane = rt.block_on(governance_plane(broker, &queues));
    let stack = on_broker(fixture, broker, &queues);
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("behind-the-broker");
    let key = alice.get(&uid);
    let tenant = stack.config().tenant.clone();
    let unlink = json!({"type": "UNLINK_KEY", "task_id": "b-unlink-1", "tenant": tenant});

    // UNLINK_KEY on lane 0: the kill switch.
    rt.block_on(publish(&plane, &queues.unlinks, &unlink));
    let result = rt.block_on(next_result(&plane, &queues));
    assert_eq!(result["task_id"], "b-unlink-1", "{result}");
    assert_eq!(result["status"], "changed", "{result}");
    assert_refused_for_the_tenant(&alice, &uid);
    // Delivered twice, acting once.
    rt.block_on(publish(&plane, &queues.unlinks, &unlink));
    let again = rt.block_on(next_result(&plane, &queues));
    assert_eq!(again["status"], "unchanged", "{again}");
    assert_eq!(again["note"], "this task already took effect", "{again}");
    assert_eq!(again["audit_sequence"], result["audit_sequence"], "{again}");

    // LINK_KEY on the task queue: the keys are back.
    let link = json!({"type": "LINK_KEY", "task_id": "b-link-1", "tenant": tenant,
                      "l1_label": fixture.hsm().l1_label});
    rt.block_on(publish(&plane, &queues.tasks, &link));
    let linked = rt.block_on(next_result(&plane, &queues));
    assert_eq!(
        (&linked["status"], &linked["note"]),
        (&json!("changed"), &json!("relinked")),
        "{linked}"
    );
    suite::wait_for_tenant(&stack, "active", REOPEN_LIMIT);
    assert_eq!(alice.get(&uid), key);

    // Poison: not a task at all, and a link on the unlink lane. Both dead-lettered at once,
    // with the reason.
    rt.block_on(plane.publish(&queues.tasks, b"{not json"))
        .unwrap();
    let dead = rt.block_on(next_dead(&plane, &queues));
    assert_eq!(dead.body, b"{not json");
    assert!(
        dead.headers["x-krypton-reason"].starts_with("not a task"),
        "{:?}",
        dead.headers
    );
    let sneaked = json!({"type": "LINK_KEY", "task_id": "b-link-2", "tenant": tenant,
                         "l1_label": fixture.hsm().l1_label});
    rt.block_on(publish(&plane, &queues.unlinks, &sneaked));
    let dead = rt.block_on(next_dead(&plane, &queues));
    assert!(
        dead.headers["x-krypton-reason"].contains("only UNLINK_KEY travels on lane 0"),
        "{:?}",
        dead.headers
    );

    // A task the HSM keeps refusing: tried max_attempts (2) times, then dead-lettered.
    let doomed = json!({"type": "LINK_KEY", "task_id": "b-link-3", "tenant": "ghost",
                        "l1_label": "no-such-l1"});
    rt.block_on(publish(&plane, &queues.tasks, &doomed));
    let first = rt.block_on(next_result(&plane, &queues));
    assert_eq!(
        (&first["status"], &first["attempt"]),
        (&json!("retrying"), &json!(1)),
        "{first}"
    );
    let last = rt.block_on(next_result(&plane, &queues));
    assert_eq!(
        (&last["status"], &last["attempt"]),
        (&json!("dead-lettered"), &json!(2)),
        "{last}"
    );
    let dead = rt.block_on(next_dead(&plane, &queues));
    assert_eq!(dead.headers["x-krypton-attempt"], "2", "{:?}", dead.headers);
    let expected: Value = serde_json::from_slice(&dead.body).unwrap();
    assert_eq!(expected, doomed);
    // Each refused attempt is a decision of the core: in its audit log, with why.
    let refusals = stack
        .core()
        .ctl()
        .audit_search(
            10,
            &[("--caller", "task=b-link-3"), ("--outcome", "refused")],
        )
        .unwrap();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for record in &refusals {
        assert_eq!(
            (&record["operation"], &record["subject"]),
            (&json!("tenant-link"), &json!("ghost")),
            "{record}"
        );
        let reason = record["reason"].as_str().unwrap();
        assert!(reason.contains("no-such-l1"), "{record}");
        assert_eq!(reason, dead.headers["x-krypton-reason"], "{record}");
    }

    // What status shows, and what the audit log holds: each effect once, with its task.
    let status = stack.core().ctl().status_document().unwrap();
    let amqp = &status["orchestration"]["amqp"];
    assert_eq!(amqp["connected"], true, "{status}");
    assert_eq!(amqp["last_task_id"], "b-link-3", "{status}");
    let callers: BTreeMap<String, usize> = stack
        .core()
        .ctl()
        .audit_search(50, &[("--caller", "orchestrator=")])
        .unwrap()
        .iter()
        .filter_map(|record| record["caller"].as_str().map(str::to_owned))
        .fold(BTreeMap::new(), |mut counts, caller| {
            *counts.entry(caller).or_default() += 1;
            counts
        });
    for task in ["b-unlink-1", "b-link-1"] {
        assert_eq!(
            callers.get(&format!("orchestrator=amqp:{BROKER_USER} task={task}")),
            Some(&1),
            "{callers:?}"
        );
    }
}

fn a_broker_killed_mid_stream_loses_no_task_and_repeats_none(fixture: &Fixture) {
    const TASKS: u64 = 30;
    // A broker of its own: this test kills it.
    let mut broker = RabbitServer::start().unwrap();
    let queues = Queues::named("crash");
    let rt = runtime();
    let plane = rt.block_on(governance_plane(&broker, &queues));
    let stack = on_broker(fixture, &broker, &queues);
    let (tenant, service) = (&stack.config().tenant, &stack.config().service);
    for n in 1..=TASKS {
        let rotate = json!({"type": "ROTATE_SERVICE", "task_id": format!("r-{n}"),
                            "tenant": tenant, "service": service});
        // Confirmed by the broker: on disk before it is killed.
        rt.block_on(publish(&plane, &queues.tasks, &rotate));
    }
    // Kill the broker while the core works through the queue.
    let first = rt.block_on(next_result(&plane, &queues));
    assert_eq!(first["status"], "changed", "{first}");
    drop(plane);
    broker.kill().unwrap();
    broker.restart().unwrap();

    let plane = rt.block_on(governance_plane(&broker, &queues));
    let mut done =
        std::collections::BTreeSet::from([first["task_id"].as_str().unwrap().to_owned()]);
    while done.len() < usize::try_from(TASKS).unwrap() {
        let result = rt.block_on(next_result(&plane, &queues));
        assert!(
            result["status"] == "changed" || result["status"] == "unchanged",
            "{result}"
        );
        done.insert(result["task_id"].as_str().unwrap().to_owned());
    }
    // Every task acted exactly once: version 1 plus one per task, and the next is one more.
    let next = stack.core().ctl().rotate_service(tenant, service).unwrap();
    assert_eq!(next, 1 + TASKS + 1);
}

fn tasks_travel_over_amqps_to_the_configured_ca(fixture: &Fixture) {
    let broker = RabbitServer::start_with_tls().unwrap();
    let queues = Queues::named("tls");
    let rt = runtime();
    let plane = rt.block_on(governance_plane(&broker, &queues));
    let stack = on_broker(fixture, &broker, &queues);
    let alice = App::of(&stack, ALICE);
    let uid = alice.create("over-amqps");
    let unlink = json!({"type": "UNLINK_KEY", "task_id": "tls-unlink-1",
                        "tenant": stack.config().tenant});
    rt.block_on(publish(&plane, &queues.unlinks, &unlink));
    let result = rt.block_on(next_result(&plane, &queues));
    assert_eq!(result["status"], "changed", "{result}");
    assert_refused_for_the_tenant(&alice, &uid);
    // The core's link is the TLS one: its config names only the amqps:// URL.
    let config = std::fs::read_to_string(stack.data_dir().join("core").join("core.toml")).unwrap();
    assert!(config.contains("amqps://localhost:"), "{config}");
}
