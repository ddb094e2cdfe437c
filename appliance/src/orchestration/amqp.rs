//! The RabbitMQ task consumer: the governance plane's asynchronous lifecycle tasks, read from
//! durable queues, carried out on the core, answered on a results exchange.
//!
//! **Delivery semantics.**
//! - *At least once, acting once.* A task is acknowledged only after its effect is durable
//!   and its result published (with a publisher confirm). Delivered again (a crash, a lost
//!   connection), it finds its task id remembered with the effect and acts no more
//!   ([`crate::core::Task`]).
//! - *Order.* The task queue is consumed one message at a time, so a tenant's link comes
//!   before its rotation. While the core is sealed, a task waits (unacknowledged) for the
//!   unseal rather than being spent. A task that fails for a reason that may pass (the HSM
//!   down or refusing, a fault in the core) is tried again after a pause, bounded by [`RETRY_PAUSE_MAX`], by publishing it again with its
//!   attempt count; after `max_attempts`, or at once for a task that can never succeed
//!   (unparseable, invalid names, another L1), it goes to the dead-letter queue with its reason.
//! - *Lane 0.* Unlink tasks travel on their own queue, consumed on their own channel, so they
//!   never wait behind links, rotations, retries or a backlog. The core wipes the tenant's keys
//!   before the unlink waits for anything.
//! - *The broker away.* The consumer reconnects with a growing pause (at most
//!   [`RECONNECT_MAX`]); nothing on the KMIP data path waits for the broker.
//!
//! The message schema is in docs/orchestration.md.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::StreamExt;
use krypton_service::ErrorChain;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};

use super::config::AmqpConfig;
use super::status::Links;
use crate::caller::{Caller, TaskId};
use crate::control::error_reason;
use crate::control::v1::ErrorReason;
use crate::core::{Core, Task, TaskOutcome};
use crate::error::Error;
use crate::hierarchy::{ServiceName, tenant_id};

/// The largest task message read; larger ones are dead-lettered unread.
const MAX_TASK_BYTES: usize = 64 * 1024;
/// The first pause before reconnecting; it doubles up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// The pause before a failed task is tried again: doubling from [`RETRY_PAUSE_FIRST`].
const RETRY_PAUSE_FIRST: Duration = Duration::from_millis(500);
const RETRY_PAUSE_MAX: Duration = Duration::from_secs(10);
/// How often a task waiting for the core to be unsealed tries again.
const SEALED_POLL: Duration = Duration::from_secs(1);
/// How often the task queues' depth is read for `status`.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);
/// Unlinks taken ahead at once on lane 0: each is quick, none waits on another.
const UNLINK_PREFETCH: u16 = 16;
/// The header that counts a task's attempts.
const ATTEMPT_HEADER: &str = "x-krypton-attempt";
/// The header that says why a task was dead-lettered.
const REASON_HEADER: &str = "x-krypton-reason";
/// AMQP's persistent delivery mode: the message survives a broker restart.
const PERSISTENT: u8 = 2;

/// A task as published by the governance plane.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
enum TaskMessage {
    LinkKey {
        task_id: String,
        tenant: String,
        l1_label: String,
    },
    UnlinkKey {
        task_id: String,
        tenant: String,
        #[serde(default)]
        destroy: bool,
    },
    CreateService {
        task_id: String,
        tenant: String,
        service: String,
    },
    RotateService {
        task_id: String,
        tenant: String,
        service: String,
    },
}

/// A task's result, published to the results exchange with the task id as correlation id.
#[derive(Debug, Serialize)]
struct ResultMessage<'a> {
    task_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    tenant: &'a str,
    /// `changed`, `unchanged`, `retrying` or `dead-lettered`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_sequence: Option<u64>,
    attempt: u32,
}

/// Which queue a consumer serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// Lane 0: unlinks only.
    Unlink,
    /// Everything else, in order.
    Tasks,
}

/// What the consumer shares: the core, the settings and what `status` shows.
#[derive(Debug)]
struct Consumer {
    core: Arc<Core>,
    config: AmqpConfig,
    links: Arc<Links>,
}

/// Consumes tasks until the process ends, reconnecting whenever the broker goes away.
pub(super) async fn run(config: AmqpConfig, core: Arc<Core>, links: Arc<Links>) {
    let consumer = Arc::new(Consumer {
        core,
        config,
        links,
    });
    let mut pause = RECONNECT_FIRST;
    loop {
        let error = match connect(&consumer.config).await {
            Ok(connection) => {
                pause = RECONNECT_FIRST;
                consumer.links.amqp_connected(true);
                tracing::info!("orchestration broker connected");
                let error = serve(&consumer, &connection).await;
                consumer.links.amqp_connected(false);
                error
            }
            Err(error) => error,
        };
        tracing::warn!(error = %error, retry_in = ?pause, "orchestration broker unreachable");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// Why a session with the broker ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("the broker password cannot be read: {0}")]
    Password(String),
    #[error("{0}")]
    Url(String),
    #[error("the broker's CA cannot be read: {0}")]
    Ca(#[source] std::io::Error),
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("the broker closed the consumer")]
    Cancelled,
    #[error("the broker refused to take a message")]
    Refused,
}

async fn connect(config: &AmqpConfig) -> Result<Connection, SessionError> {
    let mut uri: AMQPUri = config.url.parse().map_err(SessionError::Url)?;
    let password = config
        .password
        .read()
        .map_err(|error| SessionError::Password(ErrorChain(&error).to_string()))?;
    uri.authority.userinfo.username.clone_from(&config.username);
    uri.authority.userinfo.password = String::from_utf8(password.to_vec())
        .map_err(|_| SessionError::Password("it is not UTF-8".to_owned()))?;
    let tls = OwnedTLSConfig {
        identity: None,
        cert_chain: match &config.server_ca {
            Some(ca) => Some(std::fs::read_to_string(ca).map_err(SessionError::Ca)?),
            None => None,
        },
    };
    let runtime = lapin::runtime::default_runtime()?;
    let connected =
        Connection::connect_uri_with_config(uri, ConnectionProperties::default(), tls, runtime)
            .await;
    // The URI, holding the password, was consumed by the connection.
    Ok(connected?)
}

/// Declares the topology, then serves both lanes until either fails.
async fn serve(consumer: &Arc<Consumer>, connection: &Connection) -> SessionError {
    let lanes = async {
        let unlinks = lane_channel(connection, UNLINK_PREFETCH).await?;
        declare(&unlinks, &consumer.config).await?;
        let tasks = lane_channel(connection, 1).await?;
        let (unlink_queue, task_queue) = (
            consumer.config.unlink_queue.as_str(),
            consumer.config.task_queue.as_str(),
        );
        let backlog = watch_backlog(consumer, connection.create_channel().await?);
        let unlinks = consume(consumer, unlinks, unlink_queue, Lane::Unlink);
        let tasks = consume(consumer, tasks, task_queue, Lane::Tasks);
        // Any of them failing ends the session: the connection is suspect.
        tokio::select! {
            error = unlinks => Err::<(), _>(error),
            error = tasks => Err(error),
            error = backlog => Err(error),
        }
    };
    match lanes.await {
        Err(error) => error,
        Ok(()) => SessionError::Cancelled,
    }
}

/// Keeps the backlog `status` shows: the messages waiting in both task queues.
async fn watch_backlog(consumer: &Consumer, channel: Channel) -> SessionError {
    let mut ticks = tokio::time::interval(BACKLOG_EVERY);
    loop {
        ticks.tick().await;
        let mut waiting = 0;
        for queue in [&consumer.config.task_queue, &consumer.config.unlink_queue] {
            let declared = channel
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await;
            match declared {
                Ok(queue) => waiting += u64::from(queue.message_count()),
                Err(error) => return error.into(),
            }
        }
        consumer.links.amqp_backlog(waiting);
    }
}

async fn lane_channel(connection: &Connection, prefetch: u16) -> Result<Channel, SessionError> {
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    Ok(channel)
}

/// The queues and exchange, durable; declaring what exists is a no-op.
async fn declare(channel: &Channel, config: &AmqpConfig) -> Result<(), SessionError> {
    for queue in [
        &config.task_queue,
        &config.unlink_queue,
        &config.dead_letter_queue,
    ] {
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
    }
    channel
        .exchange_declare(
            config.results_exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    Ok(())
}

async fn consume(
    consumer: &Arc<Consumer>,
    channel: Channel,
    queue: &str,
    lane: Lane,
) -> SessionError {
    let tag = match lane {
        Lane::Unlink => "krypton-core-lane-0",
        Lane::Tasks => "krypton-core-tasks",
    };
    let stream = channel
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(error) => return error.into(),
    };
    while let Some(delivery) = stream.next().await {
        let handled = match delivery {
            Ok(delivery) => match lane {
                // Unlinks run side by side: none waits behind another's disk sync.
                Lane::Unlink => {
                    let (consumer, channel, queue) =
                        (Arc::clone(consumer), channel.clone(), queue.to_owned());
                    tokio::spawn(async move {
                        if let Err(error) =
                            handle(&consumer, &channel, &queue, lane, delivery).await
                        {
                            tracing::warn!(%error, "an unlink task's acknowledgement failed; it will be delivered again");
                        }
                    });
                    Ok(())
                }
                Lane::Tasks => handle(consumer, &channel, queue, lane, delivery).await,
            },
            Err(error) => Err(error.into()),
        };
        if let Err(error) = handled {
            return error;
        }
    }
    SessionError::Cancelled
}

/// Carries out one delivery and settles it: acknowledged once its outcome is published.
async fn handle(
    consumer: &Consumer,
    channel: &Channel,
    queue: &str,
    lane: Lane,
    delivery: Delivery,
) -> Result<(), SessionError> {
    let attempt = attempt_of(&delivery);
    let (task_id, task) = match parse(&delivery.data, lane) {
        Ok(parsed) => parsed,
        Err(reason) => {
            tracing::warn!(%reason, "orchestration task refused unread");
            dead_letter(channel, &consumer.config, &delivery, &reason, attempt).await?;
            return ack(&delivery).await;
        }
    };
    let kind = task.kind();
    let tenant = task.tenant().to_string();
    let caller = Caller::Orchestrator {
        identity: format!("amqp:{}", consumer.config.username),
        task: Some(task_id.clone()),
    };
    let outcome = run_when_unsealed(&consumer.core, &caller, task).await;
    consumer.links.amqp_task(task_id.as_str(), kind);
    let mut result = ResultMessage {
        task_id: task_id.as_str(),
        kind,
        tenant: &tenant,
        status: "changed",
        note: None,
        reason: None,
        audit_sequence: None,
        attempt,
    };
    match outcome {
        Ok(TaskOutcome {
            changed,
            audit_sequence,
            note,
        }) => {
            tracing::info!(%caller, %tenant, task = kind, changed, note, "orchestration task done");
            result.status = if changed { "changed" } else { "unchanged" };
            result.note = Some(note);
            result.audit_sequence = audit_sequence;
            publish_result(channel, &consumer.config, &result).await?;
        }
        Err(error) => {
            let reason = crate::control::remote_message(&error);
            result.reason = Some(&reason);
            let again = retryable(&error) && attempt < consumer.config.max_attempts;
            tracing::warn!(%caller, %tenant, task = kind, attempt, again, reason = %reason, "orchestration task failed");
            if again {
                result.status = "retrying";
                publish_result(channel, &consumer.config, &result).await?;
                tokio::time::sleep(retry_pause(attempt)).await;
                retry(channel, queue, &delivery, attempt + 1).await?;
            } else {
                result.status = "dead-lettered";
                dead_letter(channel, &consumer.config, &delivery, &reason, attempt).await?;
                publish_result(channel, &consumer.config, &result).await?;
            }
        }
    }
    ack(&delivery).await
}

/// Runs `task`, waiting while the core is sealed: a sealed core is waiting for its operators,
/// not failing, and a task (above all an unlink) must not be spent on it. The broker keeps the
/// message unacknowledged meanwhile, and redelivers it if this process goes.
async fn run_when_unsealed(
    core: &Arc<Core>,
    caller: &Caller,
    task: Task,
) -> Result<TaskOutcome, Error> {
    let mut told = false;
    loop {
        match core.run_task(caller.clone(), task.clone()).await {
            Err(Error::Sealed | Error::Uninitialized) => {
                if !told {
                    tracing::warn!(%caller, task = task.kind(), "orchestration task waits for the core to be unsealed");
                    told = true;
                }
                tokio::time::sleep(SEALED_POLL).await;
            }
            outcome => return outcome,
        }
    }
}

/// Reads a task: bounded, valid JSON of the schema, valid names, on the right lane.
fn parse(data: &[u8], lane: Lane) -> Result<(TaskId, Task), String> {
    if data.len() > MAX_TASK_BYTES {
        return Err(format!(
            "the task is {} bytes; at most {MAX_TASK_BYTES} are read",
            data.len()
        ));
    }
    let message: TaskMessage =
        serde_json::from_slice(data).map_err(|error| format!("not a task: {error}"))?;
    let invalid = |error: Error| ErrorChain(&error).to_string();
    let (id, task) = match message {
        TaskMessage::LinkKey {
            task_id,
            tenant,
            l1_label,
        } => (
            task_id,
            Task::Link {
                tenant: tenant_id(tenant).map_err(invalid)?,
                l1_label,
            },
        ),
        TaskMessage::UnlinkKey {
            task_id,
            tenant,
            destroy,
        } => (
            task_id,
            Task::Unlink {
                tenant: tenant_id(tenant).map_err(invalid)?,
                destroy,
            },
        ),
        TaskMessage::CreateService {
            task_id,
            tenant,
            service,
        } => (
            task_id,
            Task::CreateService {
                tenant: tenant_id(tenant).map_err(invalid)?,
                service: ServiceName::new(service).map_err(invalid)?,
            },
        ),
        TaskMessage::RotateService {
            task_id,
            tenant,
            service,
        } => (
            task_id,
            Task::RotateService {
                tenant: tenant_id(tenant).map_err(invalid)?,
                service: ServiceName::new(service).map_err(invalid)?,
            },
        ),
    };
    let id = TaskId::new(id).map_err(|error| error.to_string())?;
    let is_unlink = matches!(task, Task::Unlink { .. });
    if lane == Lane::Unlink && !is_unlink {
        return Err(format!(
            "{} on the unlink queue: only UNLINK_KEY travels on lane 0",
            task.kind()
        ));
    }
    Ok((id, task))
}

/// Whether `error` may pass by itself (the HSM or the disk failing, a fault in the core), so
/// the task is worth trying again; a task refused for what it says never is.
fn retryable(error: &Error) -> bool {
    matches!(
        error_reason(error),
        ErrorReason::Hsm
            | ErrorReason::TenantUnavailable
            | ErrorReason::Internal
            | ErrorReason::Unspecified
    )
}

fn retry_pause(attempt: u32) -> Duration {
    RETRY_PAUSE_FIRST
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(RETRY_PAUSE_MAX)
}

/// The attempt this delivery is: 1 unless an earlier attempt published it again.
fn attempt_of(delivery: &Delivery) -> u32 {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(ATTEMPT_HEADER))
        .and_then(|value| match value {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            _ => None,
        })
        .unwrap_or(1)
        .max(1)
}

/// Publishes the task again at the end of its queue, as attempt `attempt`, and waits for the
/// broker's confirm.
async fn retry(
    channel: &Channel,
    queue: &str,
    delivery: &Delivery,
    attempt: u32,
) -> Result<(), SessionError> {
    let mut headers = FieldTable::default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
    publish(
        channel,
        "",
        queue,
        &delivery.data,
        persistent().with_headers(headers),
    )
    .await
}

async fn dead_letter(
    channel: &Channel,
    config: &AmqpConfig,
    delivery: &Delivery,
    reason: &str,
    attempt: u32,
) -> Result<(), SessionError> {
    let mut headers = FieldTable::default();
    headers.insert(ATTEMPT_HEADER.into(), AMQPValue::LongUInt(attempt));
    let reason: String = reason.chars().take(1024).collect();
    headers.insert(REASON_HEADER.into(), AMQPValue::LongString(reason.into()));
    publish(
        channel,
        "",
        &config.dead_letter_queue,
        &delivery.data,
        persistent().with_headers(headers),
    )
    .await
}

async fn publish_result(
    channel: &Channel,
    config: &AmqpConfig,
    result: &ResultMessage<'_>,
) -> Result<(), SessionError> {
    let body = serde_json::to_vec(result).unwrap_or_default();
    let properties = persistent()
        .with_content_type("application/json".into())
        .with_correlation_id(result.task_id.into());
    let routing_key = format!("result.{}", result.kind);
    publish(
        channel,
        &config.results_exchange,
        &routing_key,
        &body,
        properties,
    )
    .await
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(PERSISTENT)
}

/// Publishes and waits for the broker to take responsibility for the message.
async fn publish(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), SessionError> {
    let confirm = channel
        .basic_publish(
            ShortString::from(exchange),
            ShortString::from(routing_key),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?;
    if confirm.await?.is_nack() {
        return Err(SessionError::Refused);
    }
    Ok(())
}

async fn ack(delivery: &Delivery) -> Result<(), SessionError> {
    delivery.ack(BasicAckOptions::default()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(json: &str, lane: Lane) -> Result<(TaskId, Task), String> {
        parse(json.as_bytes(), lane)
    }

    #[test]
    fn each_task_type_reads() {
        let (id, task) = parsed(
            r#"{"type":"LINK_KEY","task_id":"t1","tenant":"acme","l1_label":"root"}"#,
            Lane::Tasks,
        )
        .unwrap();
        assert_eq!(id.as_str(), "t1");
        assert_eq!(task.kind(), "LINK_KEY");
        let (_, task) = parsed(
            r#"{"type":"UNLINK_KEY","task_id":"t2","tenant":"acme"}"#,
            Lane::Unlink,
        )
        .unwrap();
        assert!(matches!(task, Task::Unlink { destroy: false, .. }));
        for kind in ["CREATE_SERVICE", "ROTATE_SERVICE"] {
            let json =
                format!(r#"{{"type":"{kind}","task_id":"t3","tenant":"acme","service":"pay"}}"#);
            assert_eq!(parsed(&json, Lane::Tasks).unwrap().1.kind(), kind);
        }
    }

    #[test]
    fn what_cannot_be_a_task_is_refused_with_a_reason() {
        let refused = |json: &str, lane| parsed(json, lane).unwrap_err();
        assert!(refused("{not json", Lane::Tasks).starts_with("not a task"));
        // A typo in a field name never passes silently.
        assert!(
            refused(
                r#"{"type":"UNLINK_KEY","task_id":"t","tenant":"a","destory":true}"#,
                Lane::Unlink
            )
            .contains("unknown field")
        );
        assert!(
            refused(
                r#"{"type":"UNLINK_KEY","task_id":"t","tenant":"a b"}"#,
                Lane::Unlink
            )
            .contains("tenant id")
        );
        assert!(
            refused(
                r#"{"type":"UNLINK_KEY","task_id":"a/b","tenant":"a"}"#,
                Lane::Unlink
            )
            .contains("task id")
        );
        assert!(
            refused(
                r#"{"type":"LINK_KEY","task_id":"t","tenant":"a","l1_label":"r"}"#,
                Lane::Unlink
            )
            .contains("only UNLINK_KEY travels on lane 0")
        );
        let huge = format!(
            r#"{{"type":"UNLINK_KEY","task_id":"t","tenant":"{}"}}"#,
            "a".repeat(MAX_TASK_BYTES)
        );
        assert!(refused(&huge, Lane::Unlink).contains("at most"));
    }

    #[test]
    fn retry_pauses_grow_and_are_bounded() {
        assert_eq!(retry_pause(1), RETRY_PAUSE_FIRST);
        assert_eq!(retry_pause(2), RETRY_PAUSE_FIRST * 2);
        assert_eq!(retry_pause(99), RETRY_PAUSE_MAX);
    }
}
