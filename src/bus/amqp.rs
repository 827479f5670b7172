//! TEMPORARY stub until the RabbitMQ bus lands.
use super::{Bus, BusError, Consumer, Topology};
use crate::model::Envelope;
use std::time::Duration;
#[derive(Debug, Clone, Default)]
pub struct AmqpSettings {
    pub timeout: Duration,
}
pub struct AmqpBus;
impl AmqpBus {
    pub async fn connect(_u: &str, _t: Topology, _s: AmqpSettings) -> Result<Self, BusError> {
        Err(BusError::Other("stub".into()))
    }
}
#[async_trait::async_trait]
impl Bus for AmqpBus {
    fn kind(&self) -> &'static str {
        "amqp"
    }
    async fn declare(&self, _t: &Topology) -> Result<(), BusError> {
        todo!()
    }
    async fn publish(&self, _m: &[Envelope]) -> Result<(), BusError> {
        todo!()
    }
    async fn send_to_queue(&self, _q: &str, _m: &Envelope) -> Result<(), BusError> {
        todo!()
    }
    async fn consume(&self, _q: &str, _p: u16) -> Result<Box<dyn Consumer>, BusError> {
        todo!()
    }
    async fn depth(&self, _q: &str) -> Result<u64, BusError> {
        todo!()
    }
    async fn ping(&self) -> Result<(), BusError> {
        todo!()
    }
    async fn close(&self) {}
}
