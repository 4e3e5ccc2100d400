pub mod bench;
pub mod check;
pub mod cmd;
pub mod eval;
pub mod run;
pub mod serve;
pub mod tokenize;
