//! The front door under many connections at once. Each request nginx
//! proxies holds two of its connections (the client's and the upstream's);
//! an open-loop load that outruns the services (the benchmark's steady
//! 1,000 writes/s with read-your-writes on) keeps a thousand or more
//! clients connected at once. With nginx's default of 1,024 connections a
//! worker, it then closed clients' connections without an answer (its log:
//! "worker_connections are not enough"): no status, no JSON, nothing in
//! the access log.

use std::path::Path;
use std::time::Duration;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::System;

/// Clients connected at once: past nginx's default per worker (the harness
/// runs one worker), well below what the template allows.
const CLIENTS: usize = 1_500;

/// Raises this process's soft limit of open files to `wanted` where it is
/// lower (a shell's default is often 1,024), up to the hard limit.
fn allow_open_files(wanted: u64) {
    let limit = getrlimit(Resource::Nofile);
    let soft = limit.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return;
    }
    let raised = limit.maximum.map_or(wanted, |hard| hard.min(wanted));
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(raised),
            maximum: limit.maximum,
        },
    )
    .expect("raising this process's open-file limit");
}

#[tokio::test]
async fn every_one_of_fifteen_hundred_clients_connected_at_once_gets_an_answer() {
    // Before nginx starts: the harness runs it as one process, where
    // `worker_rlimit_nofile` does not apply, so it inherits this limit.
    allow_open_files(2 * CLIENTS as u64 + 512);
    let system = System::start().await;
    let address = system.base_url().trim_start_matches("http://").to_owned();

    // Everyone connects first, so that all are nginx's connections at once.
    let mut streams = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&address))
            .await
            .expect("connecting to the front door in time")
            .expect("connecting to the front door");
        streams.push(stream);
    }

    // Then each asks for the query service's health through it.
    let request = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let asks = streams.into_iter().map(|mut stream| {
        let request = request.clone();
        tokio::spawn(async move {
            let mut answer = Vec::new();
            let exchange = async {
                stream.write_all(request.as_bytes()).await?;
                stream.read_to_end(&mut answer).await
            };
            match tokio::time::timeout(Duration::from_secs(60), exchange).await {
                Ok(Ok(_)) => String::from_utf8_lossy(&answer)
                    .lines()
                    .next()
                    .unwrap_or("(no answer)")
                    .to_owned(),
                Ok(Err(e)) => format!("(connection failed: {e})"),
                Err(_) => "(no answer within 60 s)".to_owned(),
            }
        })
    });
    let mut unanswered = std::collections::BTreeMap::<String, usize>::new();
    for ask in asks.collect::<Vec<_>>() {
        let status_line = ask.await.expect("a client task");
        if !status_line.starts_with("HTTP/1.1 200") {
            *unanswered.entry(status_line).or_default() += 1;
        }
    }
    assert!(
        unanswered.is_empty(),
        "of {CLIENTS} clients connected at once, these got no 200: {unanswered:?}\n\
         nginx's log:\n{}",
        system.log_tail(crate::harness::Process::FrontDoor, 20)
    );
}

/// nginx keeps idle connections to the services for reuse; one the service
/// closes just as nginx sends a request on it fails that request (a 502,
/// answered as a 503; a write is not sent again). So every upstream lets
/// an idle connection go before the services would close it
/// (`infra::http::KEEP_ALIVE`; the query service's tests check that they
/// keep one that long). Without `keepalive_timeout`, nginx keeps one 60 s.
#[test]
fn the_front_door_lets_idle_upstream_connections_go_before_the_services_do() {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx.conf.template");
    let template = std::fs::read_to_string(&template).expect("reading the nginx template");
    let mut upstreams = Vec::new();
    let mut lines = template.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(name) = line
            .strip_prefix("upstream ")
            .and_then(|rest| rest.strip_suffix(" {"))
        else {
            continue;
        };
        let seconds = lines
            .by_ref()
            .take_while(|line| *line != "}")
            .find_map(|line| line.strip_prefix("keepalive_timeout "))
            .map(|value| {
                value
                    .strip_suffix("s;")
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or_else(|| {
                        panic!("{name}: keepalive_timeout {value} is not in seconds")
                    })
            })
            .unwrap_or(60);
        upstreams.push((name.to_owned(), Duration::from_secs(seconds)));
    }
    assert_eq!(upstreams.len(), 2, "{upstreams:?}");
    for (name, kept) in upstreams {
        assert!(
            kept < infra::http::KEEP_ALIVE,
            "{name} keeps idle connections {kept:?}, the services {:?}",
            infra::http::KEEP_ALIVE
        );
    }
}
