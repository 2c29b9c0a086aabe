//! pulse-server: ingest metric lines over HTTP, keep them in SQLite, serve summaries.
//!
//! Routes: `GET /healthz`, `GET /version`, `POST /ingest` (text body, one sample per line),
//! `GET /metrics`, `GET /metrics/{name}`. With the `gzip` feature, `/metrics` is compressed for
//! clients that send `Accept-Encoding: gzip`.

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use pulse_core::{parse_lines, BuildInfo, Store};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const BUILD: BuildInfo = pulse_core::build_info!();

#[derive(Parser)]
#[command(about = "HTTP service for pulse metrics", disable_version_flag = true)]
struct Args {
    /// Print version, commit, build variant and target, then exit.
    #[arg(short = 'V', long)]
    version: bool,
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, env = "PULSE_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// SQLite database file; `:memory:` keeps everything in memory.
    #[arg(long, env = "PULSE_DB", default_value = ":memory:")]
    db: String,
}

type Db = Arc<Mutex<Store>>;

struct AppError(StatusCode, String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<pulse_core::store::StoreError> for AppError {
    fn from(e: pulse_core::store::StoreError) -> Self {
        let status = match e {
            pulse_core::store::StoreError::KindMismatch { .. } => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AppError(status, e.to_string())
    }
}

fn lock(db: &Db) -> std::sync::MutexGuard<'_, Store> {
    // A panic while holding the lock cannot leave SQLite half-written (transactions), so go on.
    db.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn version() -> Json<BuildInfo> {
    Json(BUILD)
}

async fn ingest(State(db): State<Db>, body: String) -> Result<Json<serde_json::Value>, AppError> {
    let (samples, rejected) = parse_lines(&body);
    let accepted = lock(&db).insert(&samples)?;
    Ok(Json(
        serde_json::json!({ "accepted": accepted, "rejected": rejected }),
    ))
}

async fn metrics(State(db): State<Db>, headers: HeaderMap) -> Result<Response, AppError> {
    let body = serde_json::json!(lock(&db).metrics()?).to_string();
    Ok(json_body(&headers, body))
}

/// A JSON body, gzip-compressed when the client accepts it and the `gzip` feature is built.
fn json_body(headers: &HeaderMap, body: String) -> Response {
    let json = [(header::CONTENT_TYPE, "application/json")];
    #[cfg(feature = "gzip")]
    if accepts_gzip(headers) {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(body.as_bytes()).is_ok() {
            if let Ok(bytes) = encoder.finish() {
                return (json, [(header::CONTENT_ENCODING, "gzip")], bytes).into_response();
            }
        }
    }
    let _ = headers;
    (json, body).into_response()
}

#[cfg(feature = "gzip")]
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next() == Some("gzip") && !parts.any(|q| q == "q=0")
        })
}

async fn metric(State(db): State<Db>, Path(name): Path<String>) -> Result<Response, AppError> {
    match lock(&db).summary(&name)? {
        Some(summary) => Ok(Json(summary).into_response()),
        None => Err(AppError(
            StatusCode::NOT_FOUND,
            format!("no metric named {name:?}"),
        )),
    }
}

fn router(db: Db) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/version", get(version))
        .route("/ingest", post(ingest))
        .route("/metrics", get(metrics))
        .route("/metrics/{name}", get(metric))
        .with_state(db)
}

/// Ctrl-C, or SIGTERM (what `docker stop` sends) where there is one.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// The flags are read before any runtime starts: `--version` is a plain print (tokio's worker
/// threads once made it spin forever under qemu-user on aarch64).
fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.version {
        println!("{BUILD}");
        return Ok(());
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();

    let store = Store::open(&args.db).with_context(|| format!("opening database {}", args.db))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Printed on stdout so scripts and tests can find the port when they asked for port 0.
    println!("listening on {addr}");
    tracing::info!(%addr, build = %BUILD, "started");
    axum::serve(listener, router(Arc::new(Mutex::new(store))))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn call(app: &Router, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn ingest_then_summarise() {
        let app = router(Arc::new(Mutex::new(Store::open(":memory:").unwrap())));
        let (status, body) =
            call(&app, "POST", "/ingest", "lat:10|ms\nlat:20|ms\nbad line\n").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["accepted"], 2);
        assert_eq!(v["rejected"][0]["line"], 3);

        let (status, body) = call(&app, "GET", "/metrics/lat", "").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["count"], 2);
        assert_eq!(v["mean"], 15.0);

        assert_eq!(
            call(&app, "GET", "/metrics/nope", "").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&app, "POST", "/ingest", "lat:1|c").await.0,
            StatusCode::CONFLICT
        );
        assert_eq!(
            call(&app, "GET", "/healthz", "").await,
            (StatusCode::OK, "ok\n".into())
        );
    }

    #[tokio::test]
    async fn metrics_are_gzip_only_with_the_feature_and_when_accepted() {
        let app = router(Arc::new(Mutex::new(Store::open(":memory:").unwrap())));
        call(&app, "POST", "/ingest", "lat:10|ms\n").await;
        let get = |encoding: &'static str| {
            let app = app.clone();
            async move {
                let req = Request::builder()
                    .uri("/metrics")
                    .header("accept-encoding", encoding)
                    .body(Body::empty())
                    .unwrap();
                let resp = app.oneshot(req).await.unwrap();
                let coding = resp
                    .headers()
                    .get("content-encoding")
                    .map(|v| v.to_str().unwrap().to_string());
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                    .await
                    .unwrap();
                (coding, bytes.to_vec())
            }
        };
        let (coding, plain) = get("identity").await;
        assert_eq!(coding, None);
        assert!(String::from_utf8(plain).unwrap().contains("lat"));
        let (coding, body) = get("br, gzip;q=0.8").await;
        if cfg!(feature = "gzip") {
            assert_eq!(coding.as_deref(), Some("gzip"));
            assert_eq!(&body[..2], [0x1f, 0x8b], "a gzip stream");
        } else {
            assert_eq!(coding, None);
            assert!(String::from_utf8(body).unwrap().contains("lat"));
        }
        assert_eq!(get("gzip;q=0").await.0, None, "refused by q=0");
    }

    #[tokio::test]
    async fn version_reports_the_build() {
        let app = router(Arc::new(Mutex::new(Store::open(":memory:").unwrap())));
        let (status, body) = call(&app, "GET", "/version", "").await;
        assert_eq!(status, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["name"], "pulse-server");
        assert_eq!(v["target"], env!("APP_TARGET"));
    }
}
