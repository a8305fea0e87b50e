//! Registering and removing middleware: names, serials, and registration
//! from places that already hold the runtime (middleware, destructors).

use nemo_relay_core::executor::block_on;
use nemo_relay_core::middleware::{guard, rewrite};
use nemo_relay_core::{
    CallOptions, ErrorCode, Family, Json, Middleware, Registration, Runtime, Verdict,
};
use serde_json::json;

#[test]
fn duplicate_registration_names_are_rejected_and_deregister_says_whether_it_removed() {
    let rt = Runtime::new();
    let mw = || Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v)));
    rt.register(Registration::new("x", mw())).unwrap();
    assert_eq!(
        rt.register(Registration::new("x", mw()))
            .unwrap_err()
            .code(),
        ErrorCode::AlreadyExists
    );
    rt.register(Registration::new(
        "x",
        Middleware::ToolSanitizeRequest(rewrite(|_, v: Json| Ok(v))),
    ))
    .expect("names are unique per family");
    assert!(rt.deregister(Family::ToolRequestIntercept, "x"));
    assert!(!rt.deregister(Family::ToolRequestIntercept, "x"));
    assert_eq!(rt.registrations(Family::ToolSanitizeRequest).len(), 1);
}

#[test]
fn deregister_exact_removes_only_the_registration_it_names_by_serial() {
    let rt = Runtime::new();
    let f = Family::ToolRequestIntercept;
    let mw = || Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v)));
    let first = Registration::new("x", mw());
    let old = first.serial();
    rt.register(first).unwrap();
    assert!(rt.holds(f, "x", old));
    assert!(rt.deregister(f, "x"));
    let second = Registration::new("x", mw());
    let new = second.serial();
    rt.register(second).unwrap();
    assert!(
        !rt.holds(f, "x", old),
        "a namesake is not the old registration"
    );
    assert!(!rt.deregister_exact(f, "x", old));
    assert_eq!(rt.registrations(f).len(), 1, "the newer registration stays");
    assert!(rt.deregister_exact(f, "x", new));
    assert!(rt.registrations(f).is_empty());
}

#[test]
fn middleware_may_register_middleware_without_deadlocking() {
    let rt = Runtime::new();
    let rt2 = rt.clone();
    rt.register(Registration::new(
        "self-registering",
        Middleware::ToolConditionalExecution(guard(move |_, _: &Json| {
            let _ = rt2.register(Registration::new(
                "added-later",
                Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
            ));
            Ok(Verdict::Allow)
        })),
    ))
    .unwrap();
    block_on(rt.tool_call(
        "search",
        json!({}),
        CallOptions::default(),
        |a| async move { Ok(a) },
    ))
    .unwrap();
    assert_eq!(rt.registrations(Family::ToolRequestIntercept).len(), 1);
}

#[test]
fn a_callback_whose_destructor_re_enters_the_runtime_does_not_deadlock() {
    // Foreign bindings free their user data when the last reference to a
    // callback drops, and that code may call back into the runtime.
    struct ReentrantDrop(Runtime);
    impl Drop for ReentrantDrop {
        fn drop(&mut self) {
            let _ = self.0.register(Registration::new(
                "from-drop",
                Middleware::ToolRequestIntercept(rewrite(|_, v: Json| Ok(v))),
            ));
            self.0.deregister(Family::ToolSanitizeRequest, "nothing");
        }
    }
    let rt = Runtime::new();
    let owned = ReentrantDrop(rt.clone());
    rt.register(Registration::new(
        "owner",
        Middleware::ToolSanitizeRequest(rewrite(move |_, v: Json| {
            let _ = &owned;
            Ok(v)
        })),
    ))
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let rt2 = rt.clone();
    std::thread::spawn(move || {
        rt2.deregister(Family::ToolSanitizeRequest, "owner");
        tx.send(()).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("no deadlock");
    assert_eq!(rt.registrations(Family::ToolRequestIntercept).len(), 1);
}
