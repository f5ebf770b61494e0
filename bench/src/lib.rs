//! End-to-end benchmark servers for canister; see `bench/README.md` and `bench/run.sh`.
