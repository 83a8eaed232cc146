"""Pure domain: the certificate model, validation rules, catalogue, rapid-test verdicts."""
