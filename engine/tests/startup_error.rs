//! Proves that a shard that cannot create its glommio executor fails `Server::start` with an
//! error naming RLIMIT_MEMLOCK and io_uring (here: locked memory limited to 64 KiB, below
//! what glommio needs), instead of panicking on a shard thread. Its own test binary, since
//! it lowers the limit for the whole process.

use ringrpc_engine::{Driver, Server, ServerConfig, StartError};

#[test]
fn low_memlock_limit_is_reported_clearly() {
    let limit = libc::rlimit {
        rlim_cur: 64 << 10,
        rlim_max: 64 << 10,
    };
    // SAFETY: `limit` is a valid, initialized `rlimit` that outlives the call; setrlimit
    // only reads it.
    let status = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
    assert_eq!(status, 0, "lowering RLIMIT_MEMLOCK");

    let config = ServerConfig::default()
        .listen(([127, 0, 0, 1], 0))
        .driver(Driver::Glommio)
        .io_memory_bytes(256 << 10);
    let error = Server::start(config, |_| {}).expect_err("no executor without locked memory");
    assert!(matches!(error, StartError::Executor { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("RLIMIT_MEMLOCK is 65536 bytes"), "{text}");
    assert!(text.contains("io_uring"), "{text}");
}
