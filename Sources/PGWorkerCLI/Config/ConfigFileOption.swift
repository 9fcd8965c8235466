import ArgumentParser

/// `--config FILE`, for the commands that read a config file. The file is read before parsing
/// (``ConfigFileArguments``); this declaration puts it in `--help` and lets the parser accept it.
struct ConfigFileOption: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp(
        "A TOML file of settings (default $PGWORKER_CONFIG); flags and environment variables override it (docs/configuration.md).",
        valueName: "file"))
    var path: String?
}
