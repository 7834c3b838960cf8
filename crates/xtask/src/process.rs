//! Background processes that xtask starts and later stops: one directory per service holding
//! its pid file and log, so `down` stops only what `up` started.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use stack_fixtures::processes;

/// A service process managed through files in `dir`.
pub struct ManagedProcess {
    pub name: String,
    pub dir: PathBuf,
}

impl ManagedProcess {
    pub fn new(name: String, state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join(&name),
            name,
        }
    }

    pub fn log_file(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// The pid of our process when it is alive. The pid file records the process's start time
    /// beside its pid, so a pid file left by a crash, or a pid the kernel has since reused for
    /// something else, does not count.
    pub fn running_pid(&self) -> Option<Pid> {
        let recorded = std::fs::read_to_string(self.pid_file()).ok()?;
        let (pid, started) = recorded.trim().split_once(' ')?;
        let pid: i32 = pid.parse().ok()?;
        let started: u64 = started.parse().ok()?;
        let alive_since = processes::start_time_while_alive(u32::try_from(pid).ok()?);
        (alive_since == Some(started)).then_some(Pid::from_raw(pid))
    }

    /// Starts `command` in its own process group (so Ctrl-C in the terminal does not reach it),
    /// with stdout and stderr appended to the service's log.
    pub fn spawn(&self, mut command: Command) -> anyhow::Result<Pid> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_file())
            .with_context(|| format!("cannot open {}", self.log_file().display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}: {}", self.name, shown(&command)))?;
        let started = processes::start_time_while_alive(child.id()).with_context(|| {
            format!(
                "{} exited as soon as it started; the end of {}:\n{}",
                self.name,
                self.log_file().display(),
                self.log_tail(40)
            )
        })?;
        std::fs::write(self.pid_file(), format!("{} {started}\n", child.id()))?;
        Ok(Pid::from_raw(i32::try_from(child.id())?))
    }

    /// Sends `signal` (the service's clean-shutdown signal), waits up to `grace` for it to
    /// exit, then SIGKILL. Returns whether a process was running.
    pub fn stop(&self, signal: Signal, grace: Duration) -> anyhow::Result<bool> {
        let Some(pid) = self.running_pid() else {
            let _ = std::fs::remove_file(self.pid_file());
            return Ok(false);
        };
        kill(pid, signal).with_context(|| format!("cannot signal {}", self.name))?;
        let deadline = Instant::now() + grace;
        while self.running_pid().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.running_pid().is_some() {
            tracing::warn!("{} did not stop within {grace:?}; killing it", self.name);
            let _ = kill(pid, Signal::SIGKILL);
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = std::fs::remove_file(self.pid_file());
        Ok(true)
    }

    /// SIGKILL, as a crash or the OOM killer would end it, and waits until it is gone. Returns
    /// whether a process was running.
    pub fn kill_hard(&self) -> anyhow::Result<bool> {
        let Some(pid) = self.running_pid() else {
            return Ok(false);
        };
        kill(pid, Signal::SIGKILL).with_context(|| format!("cannot kill {}", self.name))?;
        while self.running_pid().is_some() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(self.pid_file());
        Ok(true)
    }

    /// The last `lines` lines of the service's log, for error messages and `stack logs`.
    pub fn log_tail(&self, lines: usize) -> String {
        match std::fs::read_to_string(self.log_file()) {
            Ok(text) => {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(error) => format!("(no log at {}: {error})", self.log_file().display()),
        }
    }
}

/// Fails, naming the service and the port, when something else already listens on `port`.
pub fn ensure_port_free(service: &str, address: &str, port: u16, flag: &str) -> anyhow::Result<()> {
    match TcpListener::bind((address, port)) {
        Ok(_) => Ok(()),
        Err(error) => bail!(
            "port {port} needed by {service} is already in use on {address} ({error}); stop whatever holds it \
             (`ss -ltnp 'sport = :{port}'` shows it) or choose another port with {flag}"
        ),
    }
}

/// Runs a command to completion, failing with its output when it exits non-zero.
pub fn run_to_completion(command: &mut Command) -> anyhow::Result<String> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {}", shown(command)))?;
    if !output.status.success() {
        bail!(
            "{} failed with {}:\n{}{}",
            shown(command),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The program and its arguments, for error messages. Not `{command:?}`: `Command`'s `Debug`
/// shows the environment variables set on it, and services get their passwords that way.
fn shown(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| format!("{:?}", part))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_process(name: &str) -> ManagedProcess {
        let state_dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        ManagedProcess::new(name.to_owned(), &state_dir)
    }

    #[test]
    fn a_spawned_process_counts_as_running_at_once_and_not_once_killed() {
        let process = scratch_process("sleeper");
        // For the first milliseconds after spawn a process's command line reads empty; a
        // readiness wait that asks then must not take the process for dead (and start a second).
        for _ in 0..20 {
            // Naming the state directory in its arguments, as the services do.
            let mut command = Command::new("sh");
            command.args(["-c", "sleep 30; :"]).arg(&process.dir);
            let pid = process.spawn(command).expect("spawning sh");
            assert_eq!(process.running_pid(), Some(pid), "just spawned");
            assert!(process.kill_hard().expect("killing sh"), "it was running");
            assert_eq!(process.running_pid(), None, "killed");
        }
        let _ = std::fs::remove_dir_all(&process.dir);
    }

    #[test]
    fn a_pid_with_another_start_time_is_not_ours() {
        let process = scratch_process("reused");
        std::fs::create_dir_all(&process.dir).expect("creating the state directory");
        let me = std::process::id();
        let started = processes::start_time_while_alive(me).expect("this process runs");
        let record = |started: u64| {
            std::fs::write(process.pid_file(), format!("{me} {started}\n")).expect("pid file")
        };
        record(started);
        assert_eq!(
            process.running_pid().map(|pid| pid.as_raw()),
            Some(me as i32)
        );
        record(started + 1);
        assert_eq!(process.running_pid(), None, "the pid was reused");
        let _ = std::fs::remove_dir_all(&process.dir);
    }

    #[test]
    fn a_shown_command_leaves_its_environment_out() {
        let mut command = std::process::Command::new("java");
        command
            .arg("-version")
            .env("CDC_DEBEZIUM_PASSWORD", "s3cret-marker");
        assert!(
            format!("{command:?}").contains("s3cret-marker"),
            "the premise"
        );
        assert_eq!(shown(&command), r#""java" "-version""#);
    }
}
