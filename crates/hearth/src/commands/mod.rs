pub mod run;
pub mod tokenize;
