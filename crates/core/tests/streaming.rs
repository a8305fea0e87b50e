//! Streaming LLM calls.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use nemo_relay_core::middleware::exec;
use nemo_relay_core::{
    CallOptions, ErrorCode, Json, JsonStream, LlmRequest, Middleware, Registration, RelayError,
    Runtime, ScopePhase, StreamOptions,
};
use serde_json::json;
use support::{data, status, Recorder};
use tokio::sync::mpsc;

/// A provider stream fed by the test, chunk by chunk.
fn channel_stream() -> (
    mpsc::UnboundedSender<nemo_relay_core::Result<Json>>,
    JsonStream,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (tx, Box::pin(stream))
}

#[tokio::test]
async fn stream_chunks_reach_the_caller_before_the_provider_finishes() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let (tx, provider) = channel_stream();
    let provider = Arc::new(std::sync::Mutex::new(Some(provider)));
    let mut stream = rt
        .llm_stream_call(
            "chat",
            LlmRequest::new(json!({})),
            StreamOptions::default(),
            move |_| {
                let s = provider.lock().unwrap().take().unwrap();
                async move { Ok(s) }
            },
        )
        .await
        .unwrap();
    tx.send(Ok(json!({"delta": "Hel"}))).unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap();
    assert_eq!(
        first.unwrap().unwrap(),
        json!({"delta": "Hel"}),
        "first chunk arrives while the provider is still open"
    );
    rt.flush().unwrap();
    assert!(
        !rec.trace().contains(&"end:chat".to_string()),
        "no end event before the stream ends"
    );
    tx.send(Ok(json!({"delta": "lo"}))).unwrap();
    drop(tx);
    let rest: Vec<_> = stream.collect().await;
    assert_eq!(rest.len(), 1);
    rt.flush().unwrap();
    assert_eq!(
        rec.trace(),
        ["start:chat", "mark:llm.chunk", "mark:llm.chunk", "end:chat"]
    );
    let end = rec.find("chat", Some(ScopePhase::End));
    assert_eq!(
        data(&end),
        json!({"chunks": [{"delta": "Hel"}, {"delta": "lo"}]})
    );
    assert_eq!(status(&end).as_deref(), Some("OK"));
}

#[tokio::test]
async fn stream_intercepts_transform_chunks_and_the_aggregate_is_configurable() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    rt.register(Registration::new(
        "upper",
        Middleware::LlmStreamExecutionIntercept(exec(|_, req: LlmRequest, next| async move {
            let inner: JsonStream = next.run(req).await?;
            let mapped =
                inner.map(|c| c.map(|v| json!(v.as_str().unwrap_or_default().to_uppercase())));
            Ok(Box::pin(mapped) as JsonStream)
        })),
    ))
    .unwrap();
    let opts = StreamOptions {
        call: CallOptions::default(),
        aggregate: Some(Arc::new(|chunks: &[Json]| {
            json!(chunks.iter().filter_map(|c| c.as_str()).collect::<String>())
        })),
    };
    let stream = rt
        .llm_stream_call("chat", LlmRequest::new(json!({})), opts, |_| async {
            Ok(Box::pin(futures_util::stream::iter(vec![
                Ok(json!("ab")),
                Ok(json!("c")),
            ])) as JsonStream)
        })
        .await
        .unwrap();
    let got: Vec<Json> = stream.map(|c| c.unwrap()).collect().await;
    assert_eq!(got, [json!("AB"), json!("C")]);
    rt.flush().unwrap();
    assert_eq!(data(&rec.find("chat", Some(ScopePhase::End))), json!("ABC"));
}

#[tokio::test]
async fn dropping_a_stream_early_is_recorded_as_an_error_end() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let mut stream = rt
        .llm_stream_call(
            "chat",
            LlmRequest::new(json!({})),
            StreamOptions::default(),
            |_| async {
                Ok(
                    Box::pin(futures_util::stream::iter((0..10).map(|i| Ok(json!(i)))))
                        as JsonStream,
                )
            },
        )
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    drop(stream);
    rt.flush().unwrap();
    let end = rec.find("chat", Some(ScopePhase::End));
    assert_eq!(status(&end).as_deref(), Some("ERROR"));
    assert!(end
        .metadata_str("otel.status_description")
        .unwrap()
        .contains("dropped before completion"));
    assert_eq!(
        end.metadata.as_ref().unwrap()["nemo_relay.stream.chunks"],
        json!(1)
    );
}

#[tokio::test]
async fn a_provider_error_mid_stream_ends_the_call_with_an_error() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let stream = rt
        .llm_stream_call(
            "chat",
            LlmRequest::new(json!({})),
            StreamOptions::default(),
            |_| async {
                Ok(Box::pin(futures_util::stream::iter(vec![
                    Ok(json!(1)),
                    Err(RelayError::callback("connection reset")),
                ])) as JsonStream)
            },
        )
        .await
        .unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[1].as_ref().unwrap_err().code(),
        ErrorCode::CallbackFailed
    );
    rt.flush().unwrap();
    assert_eq!(
        status(&rec.find("chat", Some(ScopePhase::End))).as_deref(),
        Some("ERROR")
    );
}

#[tokio::test]
async fn a_provider_that_fails_to_start_ends_the_call_and_returns_the_error() {
    let rt = Runtime::new();
    let rec = Recorder::install(&rt);
    let err = rt
        .llm_stream_call(
            "chat",
            LlmRequest::new(json!({})),
            StreamOptions::default(),
            |_| async { Err::<JsonStream, _>(RelayError::callback("401")) },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CallbackFailed);
    rt.flush().unwrap();
    assert_eq!(rec.trace(), ["start:chat", "end:chat"]);
}

#[tokio::test]
async fn a_stream_intercept_may_pull_from_next_after_it_returned_its_stream() {
    let rt = Runtime::new();
    rt.register(Registration::new(
        "lazy",
        Middleware::LlmStreamExecutionIntercept(exec(|_, req: LlmRequest, next| async move {
            // Return a stream that only calls `next` when first polled.
            let lazy = futures_util::stream::once(async move { next.run(req).await })
                .map(|inner: nemo_relay_core::Result<JsonStream>| match inner {
                    Ok(s) => s,
                    Err(e) => Box::pin(futures_util::stream::iter(vec![Err(e)])) as JsonStream,
                })
                .flatten();
            Ok(Box::pin(lazy) as JsonStream)
        })),
    ))
    .unwrap();
    let stream = rt
        .llm_stream_call(
            "chat",
            LlmRequest::new(json!({})),
            StreamOptions::default(),
            |_| async {
                Ok(
                    Box::pin(futures_util::stream::iter(vec![Ok(json!(1)), Ok(json!(2))]))
                        as JsonStream,
                )
            },
        )
        .await
        .unwrap();
    let got: Vec<_> = stream.collect().await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        *got[1].as_ref().unwrap(),
        json!(2),
        "next stays valid while the stream lives"
    );
}
