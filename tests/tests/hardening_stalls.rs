//! Clients that stop reading lose their connection:
//! - HTTP/1: 3,000 `GET /metrics` pipelined on a connection with a 4 KiB receive buffer and
//!   not read for 15 s: the relay's writes stall, and after `write_timeout_ms` (10 s by
//!   default) it closes the connection, so reading afterwards finds far fewer than 300
//!   answers and then the end;
//! - HTTP/2 with a zero flow-control window (its pings answered, as h2 does): a response
//!   it never lets through, an idle GOAWAY after `idle_timeout_ms = 1000`, then the relay
//!   closes the connection `goaway_grace_ms` (10 s by default) later, well within 30 s.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use uprelay_tests::relay::{run_bounded, Relay, RelayConfig, StoreKind, TEST_LIMIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_pipelined_answers_is_cut_off() {
    run_bounded("a_client_that_never_reads_is_cut_off", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded)).await;
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(([127, 0, 0, 1], relay.port).into()).await.unwrap();
        let requests = 3000;
        let one = format!("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", relay.port);
        stream.write_all(one.repeat(requests).as_bytes()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(15)).await;
        // Now read everything there is, until the end (or 20 s).
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await
        .is_ok();
        let answers = String::from_utf8_lossy(&got).matches("HTTP/1.1 200").count();
        assert!(ended, "the connection was still open after 35 s ({answers} answers read)");
        assert!(answers < requests, "all {requests} answers came: the stalled connection was kept");
        // The relay is fine.
        assert!(relay.metrics().await.contains("uprelay_connections_refused_total"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_with_a_closed_window_is_closed_after_goaway() {
    run_bounded("an_http2_client_with_a_closed_window", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded).limit("idle_timeout_ms = 1000")).await;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", relay.port)).await.unwrap();
        let (mut h2, conn) = h2::client::Builder::new().initial_window_size(0).handshake::<_, bytes::Bytes>(tcp).await.unwrap();
        let driver = tokio::spawn(conn);
        let req = http::Request::get(format!("http://127.0.0.1:{}/metrics", relay.port)).body(()).unwrap();
        let (response, _) = h2.send_request(req, true).unwrap();
        let response = response.await.expect("the response head arrives; its body never can");
        assert_eq!(response.status(), 200);
        let _body = response.into_body();
        // The driver answers pings for as long as the relay keeps the connection.
        let ended = tokio::time::timeout(Duration::from_secs(30), driver).await;
        assert!(ended.is_ok(), "an HTTP/2 connection with a stalled stream was kept 30 s after its idle GOAWAY");
    })
    .await;
}
