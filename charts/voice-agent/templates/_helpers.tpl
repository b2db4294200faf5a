{{/*
Named templates shared by every component. Component templates pass a dict:
  root      the top-level context ($)
  component "stt" | "tts" | "llm" | "gateway" | "models" | "test"
  values    the component's values block (.Values.stt, ...)
*/}}

{{- define "voice-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "voice-agent.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Object name of one component: <fullname>-<component>. */}}
{{- define "voice-agent.componentName" -}}
{{- printf "%s-%s" (include "voice-agent.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "voice-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "voice-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: voice-agent
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of a component (dict root, component). NetworkPolicies select on exactly these. */}}
{{- define "voice-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voice-agent.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Full metadata labels of a component's objects (dict root, component). */}}
{{- define "voice-agent.componentLabels" -}}
{{ include "voice-agent.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "voice-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "voice-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference (dict root, image): registry and tag default to .Values.image.registry / appVersion. */}}
{{- define "voice-agent.image" -}}
{{- $registry := .image.registry | default .root.Values.image.registry }}
{{- $repository := .image.repository }}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) $repository $tag }}
{{- else }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}
{{- end }}

{{- define "voice-agent.pullPolicy" -}}
{{- .image.pullPolicy | default .root.Values.image.pullPolicy }}
{{- end }}

{{/* The active profile of a model component: its gpu block when gpu.enabled, else its cpu block (as YAML). */}}
{{- define "voice-agent.profile" -}}
{{- if .values.gpu.enabled }}{{ toYaml .values.gpu }}{{ else }}{{ toYaml .values.cpu }}{{ end }}
{{- end }}

{{/*
Pod-level fields every pod of the chart shares (dict root, values, gpu):
service account, pull secrets, security context, pool scheduling (GPU or CPU pool merged with the
component's own nodeSelector/tolerations/affinity), spreading of replicas over nodes.
*/}}
{{- define "voice-agent.podCommon" -}}
{{- $root := .root }}
{{- $gpu := .gpu | default dict }}
{{- $pool := ternary $root.Values.gpuPool $root.Values.cpuPool (eq (toString $gpu.enabled) "true") -}}
serviceAccountName: {{ include "voice-agent.serviceAccountName" $root }}
automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.security.podSecurityContext | nindent 2 }}
{{- if eq (toString $gpu.enabled) "true" }}
{{- with ($gpu.runtimeClassName | default $root.Values.gpuPool.runtimeClassName) }}
runtimeClassName: {{ . }}
{{- end }}
{{- end }}
{{- $nodeSelector := merge (deepCopy (.values.nodeSelector | default dict)) $pool.nodeSelector }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $tolerations := concat ($pool.tolerations | default list) (.values.tolerations | default list) }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $affinity := mustMergeOverwrite (deepCopy ($pool.affinity | default dict)) (.values.affinity | default dict) }}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "voice-agent.selectorLabels" (dict "root" $root "component" .component) | nindent 8 }}
{{- end }}

{{/* Container securityContext (root). */}}
{{- define "voice-agent.containerSecurityContext" -}}
securityContext:
  {{- toYaml .Values.security.containerSecurityContext | nindent 2 }}
{{- end }}

{{/* Container resources (dict resources, gpu): the profile's resources plus the GPU extended resource. */}}
{{- define "voice-agent.resources" -}}
{{- $resources := deepCopy (.resources | default dict) }}
{{- if and .gpu (eq (toString .gpu.enabled) "true") }}
{{- $limits := $resources.limits | default dict }}
{{- $_ := set $limits .gpu.resourceName (.gpu.count | int) }}
{{- $_ := set $resources "limits" $limits }}
{{- end }}
resources:
  {{- toYaml $resources | nindent 2 }}
{{- end }}

{{/*
Probes (dict port, startupPath, readyPath, livePath, probes): the startup probe holds the
others back for as long as model loading may take; readiness then gates traffic, liveness restarts.
An empty path probes the TCP port instead.
*/}}
{{- define "voice-agent.probeAction" -}}
{{- if .path }}httpGet: {path: {{ .path }}, port: {{ .port }}}{{ else }}tcpSocket: {port: {{ .port }}}{{ end }}
{{- end }}

{{- define "voice-agent.probes" -}}
startupProbe:
  {{ include "voice-agent.probeAction" (dict "path" (.startupPath | default .livePath) "port" .port) }}
  {{- toYaml .probes.startup | nindent 2 }}
readinessProbe:
  {{ include "voice-agent.probeAction" (dict "path" .readyPath "port" .port) }}
  {{- toYaml .probes.readiness | nindent 2 }}
livenessProbe:
  {{ include "voice-agent.probeAction" (dict "path" .livePath "port" .port) }}
  {{- toYaml .probes.liveness | nindent 2 }}
{{- end }}

{{/* Environment every container gets (dict root, component): OTLP endpoint, service name, a writable HOME. */}}
{{- define "voice-agent.commonEnv" -}}
- name: HOME
  value: /tmp
- name: OTEL_SERVICE_NAME
  value: {{ printf "voice-%s" .component | quote }}
{{- with .root.Values.observability.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Settings as environment variables (dict prefix, config): {maxSessions: 8} -> PREFIX_MAX_SESSIONS=8;
     an object value is JSON, as pydantic-settings reads a dict setting: {llmExtraBody: {top_k: 40}}. */}}
{{- define "voice-agent.configEnv" -}}
{{- range $key, $value := .config }}
- name: {{ printf "%s_%s" $.prefix ($key | snakecase | upper) }}
  value: {{ if kindIs "map" $value }}{{ $value | toJson | quote }}{{ else }}{{ $value | toString | quote }}{{ end }}
{{- end }}
{{- end }}

{{/* Volumes every pod gets (dict root, models: bool, shmSize, cacheSizeLimit): /tmp, the weights volume, and
     optionally /dev/shm and a /cache emptyDir (for compile and download caches too big for /tmp). */}}
{{- define "voice-agent.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.security.tmpSizeLimit }}
{{- if and .models (ne .root.Values.models.source "image") }}
- name: models
  {{- if eq .root.Values.models.source "pvc" }}
  persistentVolumeClaim:
    claimName: {{ .root.Values.models.pvc.existingClaim | default (include "voice-agent.componentName" (dict "root" .root "component" "models")) }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .root.Values.models.emptyDir.sizeLimit }}
  {{- end }}
{{- end }}
{{- with .shmSize }}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ . }}
{{- end }}
{{- with .cacheSizeLimit }}
- name: cache
  emptyDir:
    sizeLimit: {{ . }}
{{- end }}
{{- end }}

{{/* Volume mounts matching voice-agent.volumes (dict root, models: bool, modelsWritable: bool, shmSize, cacheSizeLimit). */}}
{{- define "voice-agent.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and .models (ne .root.Values.models.source "image") }}
- name: models
  mountPath: {{ .root.Values.models.mountPath }}
  readOnly: {{ not .modelsWritable }}
{{- end }}
{{- with .shmSize }}
- name: dshm
  mountPath: /dev/shm
{{- end }}
{{- if .cacheSizeLimit }}
- name: cache
  mountPath: /cache
{{- end }}
{{- end }}

{{/*
The init step that prepares weights (dict root, dirs): copies each directory of the models image
into the weights volume unless it is there already (seeded before, or put there by an operator).
Copies go to a per-pod temporary name and are renamed when complete, so pods sharing a PVC
never see half a model.
*/}}
{{- define "voice-agent.seedInitContainer" -}}
{{- $root := .root }}
{{- if ne $root.Values.models.source "image" -}}
initContainers:
- name: seed-models
  image: {{ include "voice-agent.image" (dict "root" $root "image" $root.Values.models.seed.image) }}
  imagePullPolicy: {{ include "voice-agent.pullPolicy" (dict "root" $root "image" $root.Values.models.seed.image) }}
  command: [sh, -c]
  args:
    - |
      set -eu
      for dir in "$@"; do
        if [ -e "/models/$dir" ]; then echo "$dir: present"; continue; fi
        partial="/models/.partial-$dir-$HOSTNAME"
        rm -rf "$partial"
        cp -R "/opt/models/$dir" "$partial"
        # atomic rename; it fails only if another pod sharing the volume finished first
        mv -T "$partial" "/models/$dir" || rm -rf "$partial"
        echo "$dir: copied"
      done
    - seed-models
    {{- range .dirs }}
    - {{ . | quote }}
    {{- end }}
  {{- include "voice-agent.containerSecurityContext" $root | nindent 2 }}
  resources:
    {{- toYaml $root.Values.models.seed.resources | nindent 4 }}
  volumeMounts:
    - name: models
      mountPath: /models
{{- end }}
{{- end }}

{{/* Pod annotations and labels of a component (dict root, component, values, extraAnnotations). */}}
{{- define "voice-agent.podMetadata" -}}
labels:
  {{- include "voice-agent.selectorLabels" . | nindent 2 }}
  app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
  {{- with .values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (deepCopy (.values.podAnnotations | default dict)) (.extraAnnotations | default dict) }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* In-cluster URLs of the model servers, as the gateway is configured with them. */}}
{{- define "voice-agent.sttUrl" -}}
{{- printf "ws://%s:%d/v1/listen" (include "voice-agent.componentName" (dict "root" . "component" "stt")) (.Values.stt.service.port | int) }}
{{- end }}
{{- define "voice-agent.ttsUrl" -}}
{{- printf "ws://%s:%d/ws" (include "voice-agent.componentName" (dict "root" . "component" "tts")) (.Values.tts.service.port | int) }}
{{- end }}
{{- define "voice-agent.llmBaseUrl" -}}
{{- printf "http://%s:%d/v1" (include "voice-agent.componentName" (dict "root" . "component" "llm")) (.Values.llm.service.port | int) }}
{{- end }}

{{- define "voice-agent.gatewayAuthSecretName" -}}
{{- .Values.gateway.auth.existingSecret | default (include "voice-agent.componentName" (dict "root" . "component" "gateway-auth")) }}
{{- end }}

{{/*
The callers' token of the chart-made Secret (root): the one an earlier install stored (read back
with lookup), else a random one drawn once per render and memoized in .Values, so that the Secret
and the gateway's checksum annotation agree on first install too (two draws differed, and the
first upgrade restarted every gateway). Without a cluster to look in (helm template, Argo CD,
Flux's post-render) each render draws anew: GitOps setups use gateway.auth.existingSecret.
*/}}
{{- define "voice-agent.gatewayAuthToken" -}}
{{- $memo := "__voiceAgentGatewayAuthToken" }}
{{- if not (hasKey .Values $memo) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "voice-agent.gatewayAuthSecretName" .) }}
{{- $stored := dig "data" .Values.gateway.auth.secretKey "" ($existing | default dict) }}
{{- $_ := set .Values $memo (ternary ($stored | b64dec) (randAlphaNum 40) (ne $stored "")) }}
{{- end }}
{{- index .Values $memo }}
{{- end }}

{{- define "voice-agent.gatewayDrainSecretName" -}}
{{- include "voice-agent.componentName" (dict "root" . "component" "gateway-drain") }}
{{- end }}

{{/* GATEWAY_AUTH_TOKEN from the Secret, when auth is on (root). */}}
{{- define "voice-agent.gatewayTokenEnv" -}}
{{- if .Values.gateway.auth.enabled }}
- name: GATEWAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "voice-agent.gatewayAuthSecretName" . }}
      key: {{ .Values.gateway.auth.secretKey }}
{{- end }}
{{- end }}

{{/* GATEWAY_DRAIN_TOKEN: what POST /drain (the preStop hook) must present (root). */}}
{{- define "voice-agent.gatewayDrainTokenEnv" -}}
- name: GATEWAY_DRAIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "voice-agent.gatewayDrainSecretName" . }}
      key: token
{{- end }}

{{/*
The Deployment of one component; every component's deployment.yaml is a call to this.
dict:
  root, component, values          as above
  gpu                              the component's gpu block (GPU pool, runtime class, GPU limit) or nil
  image, resources, probes         the active profile's
  command                          list; the container's command
  port                             container port (named "http"; probes and Services use the name)
  startupPath, readyPath, livePath probe paths (startup defaults to live; empty: a TCP probe)
  env                              extra env entries, rendered YAML (list items)
  seedDirs                         model directories the init step copies into the weights volume
  models                           mount the weights volume (default: when seedDirs is not empty)
  modelsWritable, shmSize          volume options (vLLM caches downloads; PyTorch needs /dev/shm)
  cacheSizeLimit                   a writable /cache emptyDir of this size (vLLM's compile caches)
  lifecycle, terminationGracePeriodSeconds, podAnnotations   optional
*/}}
{{- define "voice-agent.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $models := ternary .models (not (empty .seedDirs)) (hasKey . "models") -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "voice-agent.componentName" . }}
  labels:
    {{- include "voice-agent.componentLabels" . | nindent 4 }}
spec:
  {{- /* An autoscaler (HPA, or KEDA's own HPA) owns the count: a fixed one would reset it on every upgrade. */}}
  {{- if not (or $v.autoscaling.enabled (dig "keda" "enabled" false $v)) }}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  strategy:
    {{- toYaml $v.strategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "voice-agent.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- include "voice-agent.podMetadata" (merge (dict "extraAnnotations" .podAnnotations) .) | nindent 6 }}
    spec:
      {{- include "voice-agent.podCommon" . | nindent 6 }}
      {{- with .terminationGracePeriodSeconds }}
      terminationGracePeriodSeconds: {{ . }}
      {{- end }}
      {{- if .seedDirs }}
      {{- include "voice-agent.seedInitContainer" (dict "root" $root "dirs" .seedDirs) | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "voice-agent.image" (dict "root" $root "image" .image) }}
          imagePullPolicy: {{ include "voice-agent.pullPolicy" (dict "root" $root "image" .image) }}
          command:
            {{- toYaml .command | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ .port }}
              protocol: TCP
          env:
            {{- .env | trim | nindent 12 }}
            {{- include "voice-agent.commonEnv" . | trim | nindent 12 }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- include "voice-agent.probes" (dict "port" "http" "startupPath" .startupPath "readyPath" .readyPath "livePath" .livePath "probes" .probes) | nindent 10 }}
          {{- include "voice-agent.resources" (dict "resources" .resources "gpu" .gpu) | trim | nindent 10 }}
          {{- include "voice-agent.containerSecurityContext" $root | nindent 10 }}
          {{- with .lifecycle }}
          lifecycle:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          volumeMounts:
            {{- include "voice-agent.volumeMounts" (dict "root" $root "models" $models "modelsWritable" .modelsWritable "shmSize" .shmSize "cacheSizeLimit" .cacheSizeLimit) | nindent 12 }}
      volumes:
        {{- include "voice-agent.volumes" (dict "root" $root "models" $models "shmSize" .shmSize "cacheSizeLimit" .cacheSizeLimit) | nindent 8 }}
{{- end }}

{{/* A component's Service (dict root, component, port, service): port "http" -> the container's "http". */}}
{{- define "voice-agent.service" -}}
{{- $s := .service -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "voice-agent.componentName" . }}
  labels:
    {{- include "voice-agent.componentLabels" . | nindent 4 }}
  {{- with $s.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $s.type | default "ClusterIP" }}
  {{- with $s.sessionAffinity }}
  sessionAffinity: {{ . }}
  {{- if eq . "ClientIP" }}
  sessionAffinityConfig:
    clientIP:
      timeoutSeconds: {{ $s.sessionAffinityTimeoutSeconds }}
  {{- end }}
  {{- end }}
  selector:
    {{- include "voice-agent.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $s.port }}
      targetPort: http
      protocol: TCP
      {{- if and (eq ($s.type | default "ClusterIP") "NodePort") $s.nodePort }}
      nodePort: {{ $s.nodePort }}
      {{- end }}
      {{- if eq .component "gateway" }}
      appProtocol: kubernetes.io/ws
      {{- end }}
{{- end }}

{{/* Components that are deployed, in a fixed order (root) -> "stt tts llm gateway" subset, space-separated. */}}
{{- define "voice-agent.enabledComponents" -}}
{{- $names := list }}
{{- range $name := list "stt" "tts" "llm" }}
{{- if (index $.Values $name).enabled }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- append $names "gateway" | join " " }}
{{- end }}
