//! ITL SSP / eSSP.
