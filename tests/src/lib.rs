//! Not built yet: the conformance suite is a placeholder until its issue is taken.
