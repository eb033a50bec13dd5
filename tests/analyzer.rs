//! Tests of the solab analyzer against real processes.
