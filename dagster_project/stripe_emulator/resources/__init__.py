"""One module per Stripe resource; each exports ROUTES."""
