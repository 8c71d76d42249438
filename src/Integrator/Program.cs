using LlmRouter.Integrator.Hosting;

return await IntegratorCli.RunAsync(args).ConfigureAwait(false);
