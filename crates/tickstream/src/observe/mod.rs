//! What the binary shows of a run: the live status (a panel on a terminal, a line otherwise) and the end
//! summary, the Prometheus metrics endpoint, the process's metrics read back as numbers, and progress lines.

pub mod metric_samples;
pub mod metrics_endpoint;
pub mod progress;
pub mod status;
pub mod status_display;
