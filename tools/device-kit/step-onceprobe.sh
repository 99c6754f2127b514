source $D/sh/step-probe.sh  # step_onceprobe lives beside step_probe
