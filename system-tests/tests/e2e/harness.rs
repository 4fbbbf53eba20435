//! The harness: a whole system per test, from the real binaries.
//!
//! [`System::start`] creates a database of its own (`st_<uuid>`), picks a NATS
//! stream and subject prefix of its own, free ports and a random
//! `TOKEN_SECRET`, starts both relays, the projection worker, the query and
//! command services and nginx (config rendered from
//! `deploy/nginx.conf.template`), waits for each `/health`, and creates a
//! platform-app token with `chatwoot-admin`. Dropping it kills every process;
//! after a passing test it also drops the database and the stream, after a
//! failing one it keeps them and prints the end of every log.
//!
//! [`System::start_with`] starts one against other servers
//! ([`SystemOptions`]): the fault-injection tests run a [`PrivateNats`] and a
//! [`PrivatePostgres`] of their own, which they may stop and start, and never
//! touch the shared servers other tests use.

use std::collections::HashMap;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// The shared Postgres server, where each test creates (and drops) its database.
const SHARED_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
/// How many systems may use the shared Postgres at once. One system holds
/// about 26 connections at its peak (measured: seven processes with pools of
/// 4, the relays' listeners and the workers' locks) plus the test's own; the
/// shared server allows 100, so four at once (the test threads) ran out, and
/// the last pool to connect (the query service's, lazily) timed out.
const SHARED_POSTGRES_SYSTEMS: usize = 2;
static SHARED_POSTGRES_SLOTS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(SHARED_POSTGRES_SYSTEMS);

/// How long a process may take to answer `/health`.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);
/// How long [`System::restart`] waits after SIGTERM before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// The binaries the workspace builds that a system needs.
const BINARIES: [&str; 6] = [
    "command-service",
    "relay",
    "projections",
    "webhooks",
    "query-service",
    "chatwoot-admin",
];

/// One process of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Process {
    /// The relay started first (it takes the leader lock).
    Relay,
    /// The second relay, waiting on the lock.
    StandbyRelay,
    /// The projection worker.
    Projections,
    /// The webhook delivery process.
    Webhooks,
    /// The HTTP read API.
    QueryService,
    /// The HTTP write API.
    CommandService,
    /// nginx, the one base URL.
    FrontDoor,
}

impl Process {
    /// Every process, in start order: the worker creates the read model the
    /// query service reads; nginx goes last.
    pub const ALL: [Process; 7] = [
        Process::Relay,
        Process::StandbyRelay,
        Process::Projections,
        Process::Webhooks,
        Process::QueryService,
        Process::CommandService,
        Process::FrontDoor,
    ];

    /// Its name in logs and messages (as in `.run/` of deploy/run.sh).
    pub fn name(self) -> &'static str {
        match self {
            Process::Relay => "relay-1",
            Process::StandbyRelay => "relay-2",
            Process::Projections => "projections",
            Process::Webhooks => "webhooks",
            Process::QueryService => "query-service",
            Process::CommandService => "command-service",
            Process::FrontDoor => "nginx",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Process::Relay | Process::StandbyRelay => "relay",
            Process::Projections => "projections",
            Process::Webhooks => "webhooks",
            Process::QueryService => "query-service",
            Process::CommandService => "command-service",
            Process::FrontDoor => "nginx",
        }
    }
}

/// A running system; see the module documentation.
pub struct System {
    workspace: PathBuf,
    bin_dir: PathBuf,
    nginx: PathBuf,
    /// This system's files: `logs/<process>.log` and nginx's config and temp files.
    dir: PathBuf,
    database: String,
    /// The Postgres server, without a database: `postgres://user@host:port`.
    postgres: String,
    nats_url: String,
    nats_stream: String,
    env: Vec<(&'static str, String)>,
    ports: HashMap<Process, u16>,
    children: HashMap<Process, Child>,
    platform_token: String,
    /// A slot of the shared Postgres, if the system runs on it; released
    /// after `Drop` has stopped the processes and dropped the database.
    _slot: Option<tokio::sync::SemaphorePermit<'static>>,
}

impl System {
    /// Starts a whole system on the shared servers and waits until every
    /// process is healthy.
    pub async fn start() -> System {
        System::start_with(SystemOptions::default()).await
    }

    /// Starts a whole system on the servers `options` names and waits until
    /// every process is healthy.
    pub async fn start_with(options: SystemOptions) -> System {
        let workspace = workspace_root();
        let bin_dir = binary_dir(&workspace);
        let nginx = nginx_binary();
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let dir = bin_dir
            .parent()
            .unwrap_or(&bin_dir)
            .join("system-tests")
            .join(&tag);
        fs::create_dir_all(dir.join("logs")).expect("creating the system's log directory");
        fs::create_dir_all(dir.join("nginx")).expect("creating nginx's directory");

        let database = format!("st_{tag}");
        let postgres = options.postgres.trim_end_matches('/').to_owned();
        let slot = if postgres == SHARED_POSTGRES {
            Some(
                SHARED_POSTGRES_SLOTS
                    .acquire()
                    .await
                    .expect("the semaphore is never closed"),
            )
        } else {
            None
        };
        let admin_url = format!("{postgres}/postgres");
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("Postgres must run at {admin_url}: {e}"));
        admin
            .execute(format!(r#"create database "{database}""#).as_str())
            .await
            .expect("creating the test database");
        admin.close().await.ok();

        let ports: HashMap<Process, u16> = Process::ALL.iter().map(|p| (*p, free_port())).collect();
        let base_url = format!("http://127.0.0.1:{}", ports[&Process::FrontDoor]);
        let nats_url = options.nats_url;
        let nats_stream = format!("ST_{tag}");
        let env = vec![
            ("HOST", "127.0.0.1".to_owned()),
            ("DATABASE_URL", format!("{postgres}/{database}")),
            // Seven processes per test share Postgres' connections.
            ("DATABASE_POOL_SIZE", "4".to_owned()),
            ("NATS_URL", nats_url.clone()),
            ("NATS_STREAM", nats_stream.clone()),
            ("NATS_SUBJECT_PREFIX", format!("st{tag}.events")),
            ("TOKEN_SECRET", hex::encode(rand::random::<[u8; 32]>())),
            (
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
            ),
            ("LOG_FORMAT", "text".to_owned()),
            ("NO_COLOR", "1".to_owned()),
            // Generous: a loaded CI machine must not turn a write into a timeout.
            ("READ_YOUR_WRITES_TIMEOUT_MS", "10000".to_owned()),
            ("FRONTEND_URL", base_url),
            // The load tests drive one token far past any sensible quota.
            ("RATE_LIMIT_PER_SECOND", "0".to_owned()),
        ];

        let mut system = System {
            workspace,
            bin_dir,
            nginx,
            dir,
            database,
            postgres,
            nats_url,
            nats_stream,
            env,
            ports,
            children: HashMap::new(),
            platform_token: String::new(),
            _slot: slot,
        };
        // All start together (their migrations are serialised by sqlx's lock);
        // then each must answer /health.
        for process in Process::ALL {
            system.spawn(process);
        }
        for process in Process::ALL {
            system.wait_healthy(process).await;
        }
        system.platform_token = system.create_platform_token().await;
        system
    }

    /// The repository's root (for its scripts and documents).
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The front door: the one base URL a client uses.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[&Process::FrontDoor])
    }

    /// The platform-app token `chatwoot-admin` printed.
    pub fn platform_token(&self) -> &str {
        &self.platform_token
    }

    /// A client of the front door.
    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::new(),
            base_url: self.base_url(),
            port: self.ports[&Process::FrontDoor],
        }
    }

    /// This system's database, as its processes reach it.
    pub fn database_url(&self) -> String {
        format!("{}/{}", self.postgres, self.database)
    }

    /// Whether the process has exited on its own (it was started and not
    /// killed by the harness); its exit status if so.
    pub fn exited(&mut self, process: Process) -> Option<std::process::ExitStatus> {
        self.children
            .get_mut(&process)
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last `lines` lines of the process's log.
    pub fn log_tail(&self, process: Process, lines: usize) -> String {
        tail(&self.log_path(process), lines)
    }

    /// Runs one of the workspace's binaries once with this system's
    /// environment (an operator command such as `projections rebuild`) and
    /// returns its stdout; panics with its stderr if it fails.
    pub async fn run_command(&self, binary: &str, args: &[&str]) -> String {
        let output = tokio::process::Command::new(self.bin_dir.join(binary))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {binary}: {e}"));
        assert!(
            output.status.success(),
            "{binary} {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The pid of the process as the harness last started it; `None` after
    /// [`System::kill9`].
    pub fn pid(&self, process: Process) -> Option<u32> {
        self.children.get(&process).map(Child::id)
    }

    /// Kills the process with SIGKILL (no shutdown work) and reaps it.
    pub fn kill9(&mut self, process: Process) {
        if let Some(mut child) = self.children.remove(&process) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process gracefully (SIGTERM, SIGKILL after a deadline) if it
    /// runs, starts it again on the same port, and waits for its `/health`.
    pub async fn restart(&mut self, process: Process) {
        if let Some(mut child) = self.children.remove(&process) {
            terminate(&mut child, STOP_DEADLINE).await;
        }
        self.spawn(process);
        self.wait_healthy(process).await;
    }

    fn log_path(&self, process: Process) -> PathBuf {
        self.dir
            .join("logs")
            .join(format!("{}.log", process.name()))
    }

    fn spawn(&mut self, process: Process) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(process))
            .expect("opening a process log");
        let err = log.try_clone().expect("cloning a log handle");
        let mut command = if process == Process::FrontDoor {
            self.nginx_command()
        } else {
            let mut command = Command::new(self.bin_dir.join(process.binary()));
            command
                .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
                .env("PORT", self.ports[&process].to_string())
                .env_remove("PROJECTION_CONSUMER")
                .env_remove("MAX_BODY_BYTES");
            command
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", process.name()));
        self.children.insert(process, child);
    }

    /// nginx in the foreground, one process (no master/worker split, so that
    /// a SIGKILL stops it all), with every file under this system's directory.
    fn nginx_command(&self) -> Command {
        let nginx_dir = self.dir.join("nginx");
        let config = nginx_dir.join("nginx.conf");
        let template = self.workspace.join("deploy/nginx.conf.template");
        let rendered = fs::read_to_string(&template)
            .unwrap_or_else(|e| panic!("reading {}: {e}", template.display()))
            .replace("{{NGINX_DIR}}", &nginx_dir.display().to_string())
            .replace("{{LOG_DIR}}", &self.dir.join("logs").display().to_string())
            .replace(
                "{{FRONT_DOOR_PORT}}",
                &self.ports[&Process::FrontDoor].to_string(),
            )
            .replace(
                "{{COMMAND_SERVICE}}",
                &format!("127.0.0.1:{}", self.ports[&Process::CommandService]),
            )
            .replace(
                "{{QUERY_SERVICE}}",
                &format!("127.0.0.1:{}", self.ports[&Process::QueryService]),
            )
            .replace("{{WORKER_PROCESSES}}", "1");
        assert!(
            !rendered.contains("{{"),
            "an unfilled placeholder in {}",
            template.display()
        );
        fs::write(&config, rendered).expect("writing nginx.conf");
        let mut command = Command::new(&self.nginx);
        command
            .arg("-p")
            .arg(format!("{}/", nginx_dir.display()))
            .arg("-c")
            .arg(&config)
            .arg("-g")
            .arg(format!(
                "daemon off; master_process off; pid {};",
                nginx_dir.join("nginx.pid").display()
            ));
        command
    }

    async fn wait_healthy(&mut self, process: Process) {
        let url = format!("http://127.0.0.1:{}/health", self.ports[&process]);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(child) = self.children.get_mut(&process) {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{} exited during startup ({status}); its log ends:\n{}",
                        process.name(),
                        tail(&self.log_path(process), 40)
                    );
                }
            }
            if let Ok(res) = http.get(&url).send().await {
                if res.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not answer {url} within {STARTUP_DEADLINE:?}; its log ends:\n{}",
                process.name(),
                tail(&self.log_path(process), 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn create_platform_token(&self) -> String {
        let output = tokio::process::Command::new(self.bin_dir.join("chatwoot-admin"))
            .args(["create-platform-app", "--name", "system tests"])
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            .output()
            .await
            .expect("running chatwoot-admin");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "chatwoot-admin failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(
            lines.len() == 1 && !lines[0].trim().is_empty(),
            "chatwoot-admin must print the token alone on one line, printed {stdout:?}"
        );
        lines[0].trim().to_owned()
    }

    fn print_logs(&self) {
        eprintln!(
            "\n--- system under test: database {}, NATS stream {}, files in {}",
            self.database,
            self.nats_stream,
            self.dir.display()
        );
        for process in Process::ALL {
            eprintln!(
                "--- {} (last 40 lines)\n{}",
                process.name(),
                tail(&self.log_path(process), 40)
            );
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for (_, mut child) in self.children.drain() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            self.print_logs();
            return;
        }
        // The database and the stream are dropped on a runtime of their own:
        // Drop may run inside the test's runtime, which cannot be blocked on.
        let database = self.database.clone();
        let admin_url = format!("{}/postgres", self.postgres);
        let nats_url = self.nats_url.clone();
        let stream = self.nats_stream.clone();
        let cleaned = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let cleanup = async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = admin
                            .execute(
                                format!(r#"drop database if exists "{database}" with (force)"#)
                                    .as_str(),
                            )
                            .await;
                    }
                    if let Ok(client) = async_nats::connect(nats_url.as_str()).await {
                        let _ = async_nats::jetstream::new(client)
                            .delete_stream(&stream)
                            .await;
                    }
                };
                tokio::time::timeout(Duration::from_secs(10), cleanup)
                    .await
                    .ok()
            })
        })
        .join();
        if matches!(cleaned, Ok(Some(()))) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// The servers a [`System`] runs against; the default is the shared ones
/// (Postgres at 127.0.0.1:5432, NATS at `$NATS_URL` or 127.0.0.1:4222).
#[derive(Debug, Clone)]
pub struct SystemOptions {
    /// The Postgres server, without a database: `postgres://user@host:port`.
    /// The system creates its database there.
    pub postgres: String,
    /// The NATS server.
    pub nats_url: String,
}

impl Default for SystemOptions {
    fn default() -> Self {
        SystemOptions {
            postgres: SHARED_POSTGRES.to_owned(),
            nats_url: std::env::var("NATS_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "nats://127.0.0.1:4222".into()),
        }
    }
}

/// How long a private server may take to start.
const SERVER_DEADLINE: Duration = Duration::from_secs(30);

/// Waits until something accepts connections on the port.
async fn wait_listening(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + SERVER_DEADLINE;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within {SERVER_DEADLINE:?}; its log ends:\n{}",
            tail(log, 40)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A NATS server (JetStream on) of one test's own, on a free port with its
/// store in a temporary directory, which the test may stop and start again on
/// the same port and store. Dropping it kills it and removes the directory.
pub struct PrivateNats {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateNats {
    /// Starts one and waits until it accepts connections.
    pub async fn start() -> PrivateNats {
        let dir = std::env::temp_dir().join(format!("st-nats-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(dir.join("store")).expect("creating the NATS store directory");
        let mut nats = PrivateNats {
            port: free_port(),
            dir,
            child: None,
        };
        nats.start_again().await;
        nats
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL (no shutdown work) and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it gracefully (SIGTERM, SIGKILL after a deadline).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, STOP_DEADLINE).await;
        }
    }

    /// Starts it (again) on the same port and store; waits until it listens.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the private NATS server runs already");
        let log_path = self.dir.join("nats.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("opening the NATS log");
        let err = log.try_clone().expect("cloning a log handle");
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("nats-server"));
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting nats-server: {e}"));
        self.child = Some(child);
        wait_listening(self.port, "the private NATS server", &log_path).await;
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill9();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A Postgres cluster of one test's own (`initdb` in the system's temporary
/// directory, trust auth, `fsync=off`, on a free port), which the test may
/// restart. As root it runs as the `postgres` OS user (Postgres refuses root).
/// Dropping it stops it (immediate) and removes its directory.
pub struct PrivatePostgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres_user: bool,
}

impl PrivatePostgres {
    /// Creates the cluster, starts it and waits until it accepts connections.
    pub async fn start() -> PrivatePostgres {
        let bin = fs::read_dir("/usr/lib/postgresql")
            .expect("Postgres' binaries live in /usr/lib/postgresql/<version>/bin")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").is_file() && b.join("pg_ctl").is_file())
            .max_by_key(|b| {
                b.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            })
            .expect("initdb and pg_ctl under /usr/lib/postgresql/*/bin");
        let dir = std::env::temp_dir().join(format!("st-pg-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).expect("creating the cluster's directory");
        let as_postgres_user = rustix::process::geteuid().is_root();
        if as_postgres_user {
            let status = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()
                .expect("running chown");
            assert!(
                status.success(),
                "chown postgres {}: {status}",
                dir.display()
            );
        }
        let postgres = PrivatePostgres {
            port: free_port(),
            dir,
            bin,
            as_postgres_user,
        };
        let data = postgres.data_dir();
        postgres
            .run(
                "initdb",
                &[
                    "-D",
                    &data,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            )
            .await;
        postgres.start_again().await;
        postgres
    }

    /// The server's options: its port, TCP on 127.0.0.1 only, its socket in
    /// its own directory, no fsync.
    fn options(&self) -> String {
        format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off \
             -c full_page_writes=off -c shared_buffers=16MB -c max_connections=100",
            self.port,
            self.dir.display()
        )
    }

    /// The server's URL without a database, for [`SystemOptions::postgres`].
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// `pg_ctl stop -m <mode>`.
    pub async fn stop(&self, mode: &str) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", &data, "-m", mode, "-w", "-t", "60", "stop"],
        )
        .await;
    }

    /// `pg_ctl start` with the options of the last start.
    pub async fn start_again(&self) {
        let data = self.data_dir();
        let log = self.log_path();
        let options = self.options();
        self.run(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        )
        .await;
    }

    /// The end of the server's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(Path::new(&self.log_path()), lines)
    }

    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log_path(&self) -> String {
        self.dir.join("postgres.log").display().to_string()
    }

    fn command(&self, tool: &str) -> std::process::Command {
        let program = self.bin.join(tool);
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    async fn run(&self, tool: &str, args: &[&str]) {
        let mut command = tokio::process::Command::from(self.command(tool));
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed ({}): {}{}\nserver log ends:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            self.log_tail(20)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self
            .command("pg_ctl")
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if std::thread::panicking() {
            eprintln!(
                "--- private Postgres (last 30 lines of {})\n{}",
                self.log_path(),
                self.log_tail(30)
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// SIGTERM, then SIGKILL if the process has not exited by the deadline.
async fn terminate(child: &mut Child, deadline: Duration) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process(pid, Signal::TERM);
    }
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A port nothing listens on right now.
/// A port nothing listens on now, for a process to bind.
///
/// Taken below Linux's ephemeral range (32768–60999), from a counter shared
/// by the tests of this binary and a random start: a port the kernel hands
/// out for `127.0.0.1:0` is also what outgoing connections (to Postgres, to
/// NATS, between the services) take their source ports from, so one could
/// take it between this check and the process binding it, and the process
/// would exit during startup.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        rand::random::<u32>() % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + n % SPAN).expect("below 65536");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("system-tests sits in the workspace")
        .to_path_buf()
}

/// `<target>/debug`, where `cargo build --workspace --bins` puts the binaries
/// (`CARGO_TARGET_DIR` if set, else `<workspace>/target`).
fn binary_dir(workspace: &Path) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| {
            if t.is_absolute() {
                t
            } else {
                workspace.join(t)
            }
        })
        .unwrap_or_else(|| workspace.join("target"));
    let dir = target.join("debug");
    let missing: Vec<&str> = BINARIES
        .iter()
        .copied()
        .filter(|b| !dir.join(b).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "the system tests run the real binaries, but {} missing from {}; \
         build them first with `cargo build --workspace --bins` (deploy/test.sh does)",
        missing.join(", ") + if missing.len() == 1 { " is" } else { " are" },
        dir.display()
    );
    warn_if_stale(workspace, &dir);
    dir
}

/// Says so when a source file is newer than a binary: the tests would run old code.
fn warn_if_stale(workspace: &Path, bin_dir: &Path) {
    fn newest(path: &Path) -> Option<SystemTime> {
        let meta = fs::metadata(path).ok()?;
        if meta.is_dir() {
            fs::read_dir(path)
                .ok()?
                .flatten()
                .filter_map(|e| newest(&e.path()))
                .max()
        } else {
            meta.modified().ok()
        }
    }
    let sources = [
        "domain",
        "infra",
        "command-service",
        "projections",
        "query-service",
        "webhooks",
        "migrations",
    ]
    .iter()
    .filter_map(|d| newest(&workspace.join(d)))
    .max();
    let oldest_binary = BINARIES
        .iter()
        .filter_map(|b| {
            fs::metadata(bin_dir.join(b))
                .and_then(|m| m.modified())
                .ok()
        })
        .min();
    if let (Some(sources), Some(binary)) = (sources, oldest_binary) {
        if sources > binary {
            eprintln!(
                "warning: sources changed after the binaries in {} were built; \
                 run `cargo build --workspace --bins` to test the current code",
                bin_dir.display()
            );
        }
    }
}

fn nginx_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx is not installed; deploy/test.sh installs it (apt-get install nginx-light)"
            )
        })
}

/// The last `lines` lines of a file.
fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// An answer from the front door.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON; `Null` when empty, a JSON string when not JSON.
    pub body: Value,
}

impl Reply {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A client of the front door that sends what Chatwoot clients send: the
/// token in `api_access_token`, JSON with a charset.
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    port: u16,
}

impl Client {
    /// `GET path` with the token.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    /// `POST path` with the token and a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// `PATCH path` with the token and a JSON body.
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    /// `POST path` like [`Client::post`], opting out of read-your-writes
    /// (`X-Read-Your-Writes: off`): the answer comes once the write commits.
    pub async fn post_without_waiting(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send_with(
            reqwest::Method::POST,
            path,
            token,
            Some(body),
            Some(("x-read-your-writes", "off")),
        )
        .await
    }

    /// `POST path` like [`Client::post_without_waiting`], but a failure to
    /// get an answer within `timeout` (refused, reset, timed out) is an
    /// `Err` describing it rather than a panic.
    pub async fn try_post_without_waiting(
        &self,
        path: &str,
        token: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<Reply, SendError> {
        let res = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("api_access_token", token)
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header("x-read-your-writes", "off")
            .body(body.to_string())
            .timeout(timeout)
            .send()
            .await
            .map_err(SendError::from)?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.map_err(SendError::from)?;
        Ok(Reply {
            status,
            headers,
            body: parse_body(&bytes),
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        self.send_with(method, path, token, body, None).await
    }

    async fn send_with(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        header: Option<(&str, &str)>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .header("api_access_token", token)
            .header(CONTENT_TYPE, "application/json; charset=utf-8");
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let res = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: parse_body(&bytes),
        }
    }

    /// `POST path` with the JSON body sent `Transfer-Encoding: chunked` in
    /// two chunks and no `Content-Length`, as the TypeScript SDK streams its
    /// bodies. Plain HTTP/1.1 over a socket, to control the framing exactly.
    pub async fn post_chunked(&self, path: &str, token: &str, body: Value) -> Reply {
        let payload = body.to_string().into_bytes();
        let (first, second) = payload.split_at(payload.len() / 2);
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\napi_access_token: {token}\r\n\
             Content-Type: application/json; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n",
            self.port
        )
        .into_bytes();
        for chunk in [first, second] {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");

        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connecting to the front door");
        stream
            .write_all(&request)
            .await
            .expect("sending the chunked request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("reading the answer");

        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP answer has a head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let mut headers = HeaderMap::new();
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(name.trim().as_bytes()),
                    HeaderValue::from_str(value.trim()),
                ) {
                    headers.append(name, value);
                }
            }
        }
        let rest = &raw[split + 4..];
        let chunked = headers
            .get("transfer-encoding")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        let bytes = if chunked {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        Reply {
            status,
            headers,
            body: parse_body(&bytes),
        }
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// No answer within the timeout: the request hung.
    Timeout(String),
    /// The connection failed (refused, reset, closed mid-answer).
    Connection(String),
}

impl From<reqwest::Error> for SendError {
    fn from(e: reqwest::Error) -> Self {
        // The chain says what happened at the socket ("connection reset").
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        if e.is_timeout() {
            SendError::Timeout(text)
        } else {
            SendError::Connection(text)
        }
    }
}

/// Decodes a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&raw[..eol]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .expect("a chunk size");
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
    out
}
