//! Draining the parking queue: what RabbitMQ dead-lettered there (a quorum queue's delivery
//! limit reached, a message rejected as not an envelope) is handed to the caller to store, then
//! acknowledged. Pulled with `basic.get` on a channel of its own, one message at a time, so a
//! refusal leaves the rest untouched.

use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};

use super::connection::{bounded, Manager};
use crate::bus::{unreadable_envelope, BusError, DeadLetter, KeepDeadLetter};
use crate::model::Envelope;

/// Hands up to `max` parked messages to `keep`; see [`crate::bus::Bus::drain_dead_letters`].
pub(super) async fn drain(
    manager: &Manager,
    parking: &str,
    max: usize,
    keep: KeepDeadLetter<'_>,
) -> Result<usize, BusError> {
    let link = manager.link().await?;
    let limit = manager.settings.operation_timeout;
    let channel = bounded(limit, link.conn.create_channel()).await?;
    let mut kept = 0;
    let result = async {
        while kept < max {
            let got = bounded(
                limit,
                channel.basic_get(
                    ShortString::from(parking),
                    BasicGetOptions { no_ack: false },
                ),
            )
            .await?;
            let Some(message) = got else { break };
            let delivery = message.delivery;
            let (queue, reason) = death(delivery.properties.headers().as_ref());
            let letter = DeadLetter {
                envelope: Envelope::from_bytes(&delivery.data)
                    .unwrap_or_else(|_| unreadable_envelope(&delivery.data)),
                queue,
                reason,
            };
            if keep(letter).await {
                bounded(limit, delivery.acker.ack(BasicAckOptions::default())).await?;
                kept += 1;
            } else {
                let requeue = BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                };
                bounded(limit, delivery.acker.nack(requeue)).await?;
                break;
            }
        }
        Ok::<_, BusError>(())
    }
    .await;
    // Closing the channel hands back anything fetched but not settled.
    let _ = bounded(limit, channel.close(200, ShortString::from("OK"))).await;
    result.map(|()| kept)
}

/// The queue and reason of the newest `x-death` entry RabbitMQ added when dead-lettering.
fn death(headers: Option<&FieldTable>) -> (Option<String>, String) {
    let entry = headers
        .and_then(|h| h.inner().get("x-death"))
        .and_then(|v| match v {
            AMQPValue::FieldArray(a) => a.as_slice().first(),
            _ => None,
        })
        .and_then(|v| match v {
            AMQPValue::FieldTable(t) => Some(t),
            _ => None,
        });
    let text = |key: &str| {
        entry
            .and_then(|t| t.inner().get(key))
            .and_then(|v| match v {
                AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
                _ => None,
            })
    };
    let reason = match text("reason").as_deref() {
        Some("delivery_limit") => {
            "RabbitMQ dead-lettered it: delivery limit reached (a consumer kept failing on it)"
                .to_string()
        }
        Some("rejected") => {
            "RabbitMQ dead-lettered it: rejected by a consumer (not an envelope)".to_string()
        }
        Some(other) => format!("RabbitMQ dead-lettered it: {other}"),
        None => "found in the parking queue".to_string(),
    };
    (text("queue"), reason)
}
