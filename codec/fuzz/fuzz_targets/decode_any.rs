//! cargo-fuzz target (nightly): the same function the stable proptest
//! `arbitrary_bytes_never_panic` drives in CI. Run: `cd codec && cargo +nightly fuzz run decode_any`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ringrpc_codec::fuzzing::decode_any(data);
});
