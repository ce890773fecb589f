//! The CLAP glue: entry point, factory, descriptor, ports and `process()`.
