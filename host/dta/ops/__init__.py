"""Operating a D-TA: `dta status` figures, `dta doctor` checks and the Prometheus metrics the
gateway and the anchorer serve (the same figures). Library code for the CLI; nothing below the
CLI imports it."""
