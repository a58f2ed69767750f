//! `uprelay-bench bare-server`: the ceiling. An axum handler on the same route shape that
//! only reads the body and answers 201, on a runtime like uprelay's (multi-thread, one
//! worker per core), run as its own process so its CPU is measured like uprelay's.

use std::net::SocketAddr;

use anyhow::Context;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

async fn push(body: Bytes) -> StatusCode {
    std::hint::black_box(&body);
    StatusCode::CREATED
}

pub fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot bind {listen}"))?;
        let app = Router::new().route("/up/{endpoint}", post(push));
        println!("bare server listening on http://{}", listener.local_addr()?);
        // TCP_NODELAY like uprelay's own listener, so the comparison is like for like.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.context("bare server failed")
    })
}
