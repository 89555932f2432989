pub mod domain {}
