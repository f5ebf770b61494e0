//! Not built yet: this crate is a placeholder until its issue is taken.
