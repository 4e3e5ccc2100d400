pub mod bench;
pub mod check;
pub mod pull;
pub mod run;
pub mod serve;
pub mod tokenize;
