"""Networks: VGG16/19, AlexNet and the style-transfer networks, and the one conv they all use."""
