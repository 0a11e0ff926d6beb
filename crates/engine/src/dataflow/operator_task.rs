//! The task behind each operator node: events in, events out, barriers passed on once every input has sent
//! them (aligned: see `barriers`). With operator state kept, a stateful operator hands its state to the
//! checkpoint coordinator at each barrier (before passing it on) and at the end, and is restored from a
//! checkpoint before it starts.

use serde_json::value::RawValue;
use tickstream_operators::{Filter, Indicators, Operator, Signals, StateJson, TimeBars};
use tokio::sync::mpsc;

use super::barriers::{Aligner, Step};
use super::{Batch, FINAL_CHECKPOINT, Inbound, Message, Outputs};
use crate::Error;
use crate::checkpoint::Report;
use crate::pipeline::OperatorSpec;

/// A running operator.
pub struct OperatorTask {
    operator: Box<dyn Operator>,
}

impl std::fmt::Debug for OperatorTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorTask")
            .field("stateful", &self.operator.is_stateful())
            .finish()
    }
}

impl OperatorTask {
    pub fn build(spec: &OperatorSpec) -> Result<OperatorTask, Error> {
        let operator: Box<dyn Operator> = match spec {
            OperatorSpec::Filter(config) => Box::new(Filter::new(config.clone())),
            OperatorSpec::TimeBars(config) => Box::new(TimeBars::new(config.clone())?),
            OperatorSpec::Indicators(config) => Box::new(Indicators::new(config.clone())?),
            OperatorSpec::Signal(config) => Box::new(Signals::new(config.clone())?),
        };
        Ok(OperatorTask { operator })
    }

    /// True for operators whose output depends on what they saw before (bars, indicators, signals).
    pub fn is_stateful(&self) -> bool {
        self.operator.is_stateful()
    }

    /// Replaces the operator's state with a checkpoint's.
    pub fn restore(&mut self, state: &RawValue) -> Result<(), Error> {
        if self.is_stateful() {
            self.operator.restore_state(state)?;
        }
        Ok(())
    }

    /// The operator's state at `checkpoint` for the coordinator, when state is kept (`reports` given)
    /// and the operator has one.
    fn state_report(
        &self,
        checkpoint: u64,
        reports: Option<&(String, mpsc::Sender<Report>)>,
    ) -> Result<Option<(Report, mpsc::Sender<Report>)>, Error> {
        let Some((node, to)) = reports.filter(|_| self.is_stateful()) else {
            return Ok(None);
        };
        let state: StateJson = self.operator.save_state()?;
        let report = Report::State {
            checkpoint,
            node: node.clone(),
            state,
        };
        Ok(Some((report, to.clone())))
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
    ) -> Result<u64, Error> {
        let mut emitted = 0u64;
        let mut out = Vec::new();
        'run: loop {
            while let Some(step) = aligner.next() {
                match step {
                    Step::Batch(batch) => {
                        for event in batch.events.iter() {
                            self.operator.on_event(event, &mut out);
                        }
                        if !out.is_empty() {
                            emitted += out.len() as u64;
                            let batch = Batch::new(std::mem::take(&mut out));
                            outputs.send(Message::Batch(batch)).await?;
                        }
                    }
                    Step::Barrier(n) => {
                        let report = self.state_report(n, reports.as_ref())?;
                        send_report(report).await?;
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
        let report = self.state_report(FINAL_CHECKPOINT, reports.as_ref())?;
        send_report(report).await?;
        outputs.send(Message::End).await?;
        Ok(emitted)
    }
}

/// Hands a state report to the checkpoint coordinator.
async fn send_report(report: Option<(Report, mpsc::Sender<Report>)>) -> Result<(), Error> {
    let Some((report, to)) = report else {
        return Ok(());
    };
    to.send(report)
        .await
        .map_err(|_| Error::Stopped("the checkpoint coordinator"))
}
