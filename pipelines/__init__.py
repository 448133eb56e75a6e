"""GitOps ML template: the pipeline package."""
