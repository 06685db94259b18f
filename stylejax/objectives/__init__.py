"""What is optimized: preprocessing contracts, style/content losses, the loss network."""
