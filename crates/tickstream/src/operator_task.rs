//! The task behind each operator node: events in, events out, barriers passed on once every input has sent
//! them.

use tickstream_model::Event;
use tickstream_operators::{Indicators, Operator, Signals, TimeBars};
use tokio::sync::mpsc;

use crate::filter::FilterConfig;
use crate::registry::OperatorSpec;
use crate::runtime::{Batch, InputMarkers, Message, Outputs};

/// A running operator.
pub enum OperatorTask {
    Filter(FilterConfig),
    Operator(Box<dyn Operator>),
}

impl std::fmt::Debug for OperatorTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperatorTask::Filter(c) => f.debug_tuple("Filter").field(c).finish(),
            OperatorTask::Operator(_) => f.write_str("Operator"),
        }
    }
}

impl OperatorTask {
    pub fn build(spec: &OperatorSpec) -> anyhow::Result<OperatorTask> {
        Ok(match spec {
            OperatorSpec::Filter(config) => OperatorTask::Filter(config.clone()),
            OperatorSpec::TimeBars(config) => {
                OperatorTask::Operator(Box::new(TimeBars::new(config.clone())?))
            }
            OperatorSpec::Indicators(config) => {
                OperatorTask::Operator(Box::new(Indicators::new(config.clone())?))
            }
            OperatorSpec::Signal(config) => {
                OperatorTask::Operator(Box::new(Signals::new(config.clone())?))
            }
        })
    }

    fn process(&mut self, events: &[Event], out: &mut Vec<Event>) {
        match self {
            OperatorTask::Filter(filter) => {
                out.extend(events.iter().filter(|e| filter.matches(e)).cloned())
            }
            OperatorTask::Operator(operator) => {
                for event in events {
                    operator.on_event(event, out);
                }
            }
        }
    }

    /// Transforms batches until every input has ended. Returns the events emitted.
    pub async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Message>,
        mut markers: InputMarkers,
        outputs: Outputs,
    ) -> anyhow::Result<u64> {
        let mut emitted = 0u64;
        let mut out = Vec::new();
        while let Some(message) = inbound.recv().await {
            match message {
                Message::Batch(batch) => {
                    self.process(&batch.events, &mut out);
                    if !out.is_empty() {
                        emitted += out.len() as u64;
                        let batch = Batch::new(std::mem::take(&mut out));
                        outputs.send(Message::Batch(batch)).await?;
                    }
                }
                Message::Barrier(n) if markers.barrier(n) => {
                    outputs.send(Message::Barrier(n)).await?
                }
                Message::Barrier(_) => {}
                Message::End if markers.end() => break,
                Message::End => {}
            }
        }
        outputs.send(Message::End).await?;
        Ok(emitted)
    }
}
