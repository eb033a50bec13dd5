//! Tests of libsolib.so with real processes.
