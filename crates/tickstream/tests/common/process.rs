//! Running the `tickstream` binary: a command builder, background processes killed when a test ends, and
//! the exchange simulator.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// One invocation of the binary under test.
pub struct Tickstream(Command);

impl Tickstream {
    /// `tickstream <args>`.
    pub fn new<I, S>(args: I) -> Tickstream
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tickstream"));
        command.args(args);
        Tickstream(command)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Tickstream {
        self.0.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Tickstream
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.0.args(args);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Tickstream {
        self.0.current_dir(dir);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Tickstream {
        self.0.env(key, value);
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Tickstream
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.0.envs(vars);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Tickstream {
        self.0.env_remove(key);
        self
    }

    /// Without `KAFKA_BROKERS` and `REDIS_URL`: the embedded broker and cache, as on a fresh machine.
    pub fn without_services(self) -> Tickstream {
        self.env_remove("KAFKA_BROKERS").env_remove("REDIS_URL")
    }

    /// The command itself, for what the builder does not cover.
    pub fn command(self) -> Command {
        self.0
    }

    /// Runs to the end; the exit status and both outputs.
    pub fn output(mut self) -> Output {
        self.0.output().unwrap()
    }

    /// Runs to the end and asserts success, naming the arguments and standard error otherwise.
    pub fn success(mut self) -> Output {
        let args: Vec<&OsStr> = self.0.get_args().collect();
        let args = format!("{args:?}");
        let out = self.0.output().unwrap();
        assert!(out.status.success(), "{args}: {}", stderr(&out));
        out
    }

    /// Runs to the end with `input` on standard input; the exit status and both outputs.
    pub fn output_with_stdin(mut self, input: String) -> Output {
        let mut child = self
            .0
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        out
    }

    /// Starts it with standard error piped for the test to read.
    pub fn spawn_reading_stderr(mut self) -> Child {
        self.0.stderr(Stdio::piped()).spawn().unwrap()
    }

    /// Starts it with standard output discarded and standard error written to `log`.
    pub fn spawn_logged(mut self, log: PathBuf) -> Running {
        let child = self
            .0
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Running {
            child,
            log: Some(log),
        }
    }
}

/// Standard error of a finished run, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Sends SIGTERM to `child`.
pub fn sigterm(child: &Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

/// A process in the background, killed when dropped; its standard error in a log file if it has one.
pub struct Running {
    pub child: Child,
    log: Option<PathBuf>,
}

impl Running {
    pub fn new(child: Child) -> Running {
        Running { child, log: None }
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|log| std::fs::read_to_string(log).ok())
            .unwrap_or_default()
    }

    /// Its exit status, polled every `poll`; fails with `"<what> within <deadline>:"` and the log when
    /// it has not exited by `deadline`.
    pub fn exit_within(&mut self, deadline: Duration, poll: Duration, what: &str) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < deadline,
                "{what} within {deadline:?}:\n{}",
                self.log()
            );
            std::thread::sleep(poll);
        }
    }

    /// SIGKILL, and waits for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tickstream simulate` on a free port, stopped when dropped.
pub struct Simulator {
    _process: Running,
    /// The `host:port` it listens on.
    pub addr: String,
}

impl Simulator {
    /// Starts `tickstream simulate --listen 127.0.0.1:0 <args>` and waits for the address it prints.
    pub fn start(args: &[&str]) -> Simulator {
        let mut child = Tickstream::new(["simulate", "--listen", "127.0.0.1:0"])
            .args(args)
            .spawn_reading_stderr();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let addr = first
            .split_whitespace()
            .nth(2)
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        // Keep reading: a simulator whose stderr is closed fails on its next log line.
        std::thread::spawn(move || for _ in stderr.lines() {});
        Simulator {
            _process: Running::new(child),
            addr,
        }
    }
}
