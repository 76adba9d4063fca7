"""Family `robustness`: adversarial examples, fooling images, fragile explanations."""
