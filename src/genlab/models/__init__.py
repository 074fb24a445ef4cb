"""One LightningModule per family, one file each. A model named in a checkpoint must live here."""
