//! Pieces of pipeline files that several tests configure the same way.

/// The processing tests' signal rules, as `[[operators.signals.rules]]` tables: EMA 12 crossing EMA 26,
/// and RSI 14 above 70 or below 30.
pub const SIGNAL_RULES: &str = r#"[[operators.signals.rules]]
name = "ema_12_cross_26"
kind = "crossover"
fast = "ema_12"
slow = "ema_26"
[[operators.signals.rules]]
name = "rsi_extreme"
kind = "threshold"
value = "rsi_14"
above = 70
below = 30
"#;

/// `[sources.ticks]`: a Kafka source on `brokers` reading `kinds` from the topics of `topic_prefix`.
pub fn kafka_ticks(
    (brokers, topic_prefix, partitions): (&str, &str, u32),
    group_id: &str,
    kinds: &[&str],
    session_timeout: &str,
) -> String {
    format!(
        "[sources.ticks]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ntopic_prefix = \"{topic_prefix}\"\n\
         partitions = {partitions}\ngroup_id = \"{group_id}\"\nkinds = {kinds:?}\n\
         session_timeout = \"{session_timeout}\"\n"
    )
}

/// `[sinks.<name>]`: a Kafka sink on `brokers` writing `inputs` to the topics of `topic_prefix`.
pub fn kafka_sink(
    name: &str,
    inputs: &[&str],
    (brokers, topic_prefix, partitions): (&str, &str, u32),
) -> String {
    format!(
        "[sinks.{name}]\nkind = \"kafka\"\ninputs = {inputs:?}\nbrokers = \"{brokers}\"\n\
         topic_prefix = \"{topic_prefix}\"\npartitions = {partitions}\n"
    )
}

/// `bars` (1 m and 5 m time bars of `ticks`), `indicators` on them, and `signals` on `signal_inputs` with
/// [`SIGNAL_RULES`].
pub fn processing_chain(signal_inputs: &[&str]) -> String {
    format!(
        "[operators.bars]\nkind = \"time_bars\"\ninputs = [\"ticks\"]\nintervals = [\"1m\", \"5m\"]\n\n\
         [operators.indicators]\nkind = \"indicators\"\ninputs = [\"bars\"]\n\n\
         [operators.signals]\nkind = \"signal\"\ninputs = {signal_inputs:?}\n{SIGNAL_RULES}"
    )
}

/// `[operators.bars]`: one-second time bars of `inputs` that take no late trade.
pub fn one_second_bars(inputs: &[&str]) -> String {
    format!(
        "[operators.bars]\nkind = \"time_bars\"\ninputs = {inputs:?}\nintervals = [\"1s\"]\n\
         allowed_lateness = \"0s\"\n"
    )
}

/// `[sources.<exchange>]`: the venue's `channels` of `symbols`, from the simulator at `addr`.
pub fn simulated_venue(exchange: &str, symbols: &[&str], channels: &[&str], addr: &str) -> String {
    format!(
        "[sources.{exchange}]\nkind = \"exchange\"\nexchange = \"{exchange}\"\nsymbols = {symbols:?}\n\
         channels = {channels:?}\nurl = \"ws://{addr}/{exchange}\"\nrest_url = \"http://{addr}/{exchange}\"\n"
    )
}
