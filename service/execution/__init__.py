"""Order execution: fulfillment connectors, the poll job and the draft expiry job."""
