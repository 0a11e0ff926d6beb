//! The task behind each operator node: events in, events out, barriers passed on once every input has sent
//! them (aligned: see `barrier_alignment`). With operator state kept, a stateful operator hands its state to the checkpoint coordinator at
//! each barrier (before passing it on) and at the end, and is restored from a checkpoint before it starts.

use serde_json::value::RawValue;
use tickstream_model::Event;
use tickstream_operators::{Indicators, Operator, Signals, StateJson, TimeBars};
use tokio::sync::mpsc;

use crate::barrier_alignment::{Aligner, Step};
use crate::checkpoint_coordinator::Report;
use crate::filter::FilterConfig;
use crate::registry::OperatorSpec;
use crate::runtime::{Batch, FINAL_CHECKPOINT, Inbound, Message, Outputs};

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

    /// True for operators whose output depends on what they saw before (bars, indicators, signals).
    pub fn is_stateful(&self) -> bool {
        matches!(self, OperatorTask::Operator(_))
    }

    /// Replaces the operator's state with a checkpoint's.
    pub fn restore(&mut self, state: &RawValue) -> anyhow::Result<()> {
        match self {
            OperatorTask::Filter(_) => Ok(()),
            OperatorTask::Operator(operator) => Ok(operator.restore_state(state)?),
        }
    }

    /// The operator's state, for those that have one.
    fn saved_state(&self) -> anyhow::Result<Option<StateJson>> {
        match self {
            OperatorTask::Filter(_) => Ok(None),
            OperatorTask::Operator(operator) => Ok(Some(operator.save_state()?)),
        }
    }

    /// The operator's state when it is kept (`reports` given) and it has one.
    fn state_to_report(
        &self,
        reports: Option<&(String, mpsc::Sender<Report>)>,
    ) -> anyhow::Result<Option<StateJson>> {
        match reports {
            Some(_) => self.saved_state(),
            None => Ok(None),
        }
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

    /// Transforms batches until every input has ended. Returns the events emitted. With `reports` (the
    /// node's name and the coordinator's inbox), the operator's state goes to the coordinator at every
    /// barrier and at the end.
    pub async fn run(
        mut self,
        mut inbound: Inbound,
        mut aligner: Aligner,
        outputs: Outputs,
        reports: Option<(String, mpsc::Sender<Report>)>,
    ) -> anyhow::Result<u64> {
        let mut emitted = 0u64;
        let mut out = Vec::new();
        'run: loop {
            while let Some(step) = aligner.next() {
                match step {
                    Step::Batch(batch) => {
                        self.process(&batch.events, &mut out);
                        if !out.is_empty() {
                            emitted += out.len() as u64;
                            let batch = Batch::new(std::mem::take(&mut out));
                            outputs.send(Message::Batch(batch)).await?;
                        }
                    }
                    Step::Barrier(n) => {
                        let state = self.state_to_report(reports.as_ref())?;
                        report_state(state, n, reports.as_ref()).await?;
                        outputs.send(Message::Barrier(n)).await?
                    }
                    Step::End => break 'run,
                }
            }
            match inbound.recv().await {
                Some((input, message)) => aligner.push(input, message),
                None => break,
            }
        }
        let state = self.state_to_report(reports.as_ref())?;
        report_state(state, FINAL_CHECKPOINT, reports.as_ref()).await?;
        outputs.send(Message::End).await?;
        Ok(emitted)
    }
}

/// Hands an operator's state at `checkpoint` to the coordinator.
async fn report_state(
    state: Option<StateJson>,
    checkpoint: u64,
    reports: Option<&(String, mpsc::Sender<Report>)>,
) -> anyhow::Result<()> {
    let (Some(state), Some((node, to))) = (state, reports) else {
        return Ok(());
    };
    let report = Report::State {
        checkpoint,
        node: node.clone(),
        state,
    };
    to.send(report)
        .await
        .map_err(|_| anyhow::anyhow!("the checkpoint coordinator stopped"))
}
