-- Argo CD health for kaudit.io/AuditConfig. Argo CD has no generic health check for custom
-- resources; add this under resource.customizations.health.kaudit.io_AuditConfig in argocd-cm.
-- Stalled -> Degraded, Reconciling or a stale generation -> Progressing, Ready -> Healthy.
local hs = {status = "Progressing", message = "Waiting for the kaudit controller"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local generation = obj.metadata.generation
if obj.status.observedGeneration ~= nil and generation ~= nil and obj.status.observedGeneration < generation then
  hs.message = "The controller has not seen the latest spec yet"
  return hs
end
local conditions = {}
for _, condition in ipairs(obj.status.conditions) do
  if condition.observedGeneration == nil or generation == nil or condition.observedGeneration == generation then
    conditions[condition.type] = condition
  end
end
if conditions.Stalled ~= nil and conditions.Stalled.status == "True" then
  return {status = "Degraded", message = conditions.Stalled.message}
end
if conditions.Reconciling ~= nil and conditions.Reconciling.status == "True" then
  return {status = "Progressing", message = conditions.Reconciling.message}
end
if conditions.Ready ~= nil and conditions.Ready.status == "True" then
  return {status = "Healthy", message = conditions.Ready.message}
end
return hs
