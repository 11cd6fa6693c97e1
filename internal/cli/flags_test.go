package cli

import "flag"

var update = flag.Bool("update", false, "rewrite golden outputs from the current behaviour")
