"""Family `architecture`: initialisation without normalisation, convolutions, derivatives, meta-learning."""
