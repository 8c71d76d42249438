using LlmRouter.Node.Cli;

return await CliApp.RunAsync(args).ConfigureAwait(false);
