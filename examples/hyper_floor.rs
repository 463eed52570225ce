//! The floor for `benches/compare.sh`: a bare hyper 1.x server on a
//! current-thread tokio runtime, answering each file of a directory from
//! memory with a fixed set of headers: no routing, no conditional
//! requests, no logging, no limits. While moltd is built on tokio, its
//! cost per request cannot go below this one's, so the benchmark shows how
//! far each target is from what the stack itself costs on the machine.
//!
//! Usage: `hyper_floor ADDR ROOT PIDFILE` (ROOT's `index.html` also
//! answers `/`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

type Files = HashMap<String, Bytes>;

fn load(root: &str) -> std::io::Result<Files> {
    let mut files = Files::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.insert(
                format!("/{name}"),
                Bytes::from(std::fs::read(entry.path())?),
            );
        }
    }
    if let Some(index) = files.get("/index.html").cloned() {
        files.insert("/".to_string(), index);
    }
    Ok(files)
}

fn answer(files: &Files, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match files.get(req.uri().path()) {
        Some(body) => Response::builder()
            .header("server", "hyper-floor")
            .header("content-type", "application/octet-stream")
            .body(Full::new(body.clone())),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new())),
    }
    .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, root, pidfile] = args.as_slice() else {
        return Err("usage: hyper_floor ADDR ROOT PIDFILE".into());
    };
    let files = Arc::new(load(root)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
        std::fs::write(pidfile, format!("{}\n", std::process::id()))?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let files = Arc::clone(&files);
            let svc = service_fn(move |req| {
                let resp = answer(&files, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
