// Placeholder: the Endpoint implementation lands here.
