{{/* Names */}}
{{- define "tickler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tickler.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tickler.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "tickler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tickler
{{- end -}}

{{- define "tickler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tickler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tickler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tickler.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tickler.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The effective settings of one role: roleDefaults merged under roles.<key>.
Call with (dict "root" $ "key" "backend"); returns YAML (use fromYaml).
*/}}
{{- define "tickler.role" -}}
{{- $r := deepCopy (index .root.Values.roles .key) -}}
{{- $r = mergeOverwrite (deepCopy .root.Values.roleDefaults) $r -}}
{{- $dapr := .root.Values.dapr.enabled -}}
{{- if not (kindIs "invalid" (index (index .root.Values.roles .key) "dapr")) -}}
{{- $dapr = index (index .root.Values.roles .key) "dapr" -}}
{{- end -}}
{{- $_ := set $r "dapr" $dapr -}}
{{- $_ := set $r "key" .key -}}
{{- $_ := set $r "name" (printf "%s-%s" (include "tickler.fullname" .root) $r.role | trunc 63 | trimSuffix "-") -}}
{{- toYaml $r -}}
{{- end -}}

{{/* The role keys in a fixed order. */}}
{{- define "tickler.roleKeys" -}}
{{- toYaml (list "backend" "notification" "emailDelivery" "recurring") -}}
{{- end -}}

{{/* "true" when any enabled role runs with Dapr. */}}
{{- define "tickler.anyDapr" -}}
{{- $any := false -}}
{{- range $key := (include "tickler.roleKeys" . | fromYamlArray) -}}
{{- $r := include "tickler.role" (dict "root" $ "key" $key) | fromYaml -}}
{{- if and $r.enabled $r.dapr -}}{{- $any = true -}}{{- end -}}
{{- end -}}
{{- if $any -}}true{{- end -}}
{{- end -}}

{{/* The app ids of the enabled Dapr roles (component scopes), as a YAML list. */}}
{{- define "tickler.daprAppIds" -}}
{{- $ids := list -}}
{{- range $key := (include "tickler.roleKeys" . | fromYamlArray) -}}
{{- $r := include "tickler.role" (dict "root" $ "key" $key) | fromYaml -}}
{{- if and $r.enabled $r.dapr -}}{{- $ids = append $ids $r.appId -}}{{- end -}}
{{- end -}}
{{- toYaml $ids -}}
{{- end -}}

{{/*
The Dapr resources, parsed from deploy/dapr (reached through the chart's dapr/ symlink) and
completed for the cluster. Returns a YAML list of objects; used by dapr.yaml and for the
pods' checksum.
*/}}
{{- define "tickler.daprResources" -}}
{{- $root := . -}}
{{- $v := .Values.dapr -}}
{{- $objs := list -}}
{{- $ids := include "tickler.daprAppIds" . | fromYamlArray -}}
{{- $files := list (printf "dapr/components/pubsub-%s.yaml" $v.pubsub.type) (printf "dapr/components/statestore-%s.yaml" $v.stateStore.type) -}}
{{- if $v.credentialsFromSecretStore -}}
{{- $files = append $files "dapr/components/secretstore-kubernetes.yaml" -}}
{{- end -}}
{{- range $f := $files -}}
{{- $raw := $root.Files.Get $f -}}
{{- if not $raw -}}
{{- fail (printf "no Dapr component file %s in deploy/dapr (dapr.pubsub.type / dapr.stateStore.type)" $f) -}}
{{- end -}}
{{- $c := fromYaml $raw -}}
{{- if and (eq $c.spec.type "pubsub.kafka") (ne $v.pubsub.kafka.authType "none") -}}
{{- $meta := list -}}
{{- range $m := $c.spec.metadata -}}
{{- if eq $m.name "authType" -}}
{{- $meta = append $meta (dict "name" "authType" "value" $v.pubsub.kafka.authType) -}}
{{- else -}}
{{- $meta = append $meta $m -}}
{{- end -}}
{{- end -}}
{{- if eq $v.pubsub.kafka.authType "password" -}}
{{- $meta = append $meta (dict "name" "saslUsername" "value" (required "dapr.pubsub.kafka.saslUsername is needed with authType password" $v.pubsub.kafka.saslUsername)) -}}
{{- $meta = append $meta (dict "name" "saslPassword" "secretKeyRef" (dict "name" (required "dapr.pubsub.kafka.saslPasswordSecret.name is needed with authType password" $v.pubsub.kafka.saslPasswordSecret.name) "key" $v.pubsub.kafka.saslPasswordSecret.key)) -}}
{{- if $v.pubsub.kafka.saslMechanism -}}
{{- $meta = append $meta (dict "name" "saslMechanism" "value" $v.pubsub.kafka.saslMechanism) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $c.spec "metadata" $meta -}}
{{- end -}}
{{- if eq $c.spec.type "pubsub.kafka" -}}
{{- $_ := set $c.spec "metadata" (concat $c.spec.metadata $v.pubsub.kafka.extraMetadata) -}}
{{- end -}}
{{- $_ := set $c "scopes" $ids -}}
{{- $objs = append $objs $c -}}
{{- end -}}
{{- $objs = append $objs ($root.Files.Get "dapr/resiliency.yaml" | fromYaml) -}}
{{- $objs = append $objs ($root.Files.Get "dapr/configuration.yaml" | fromYaml) -}}
{{- range $o := $objs -}}
{{- $_ := set $o.metadata "namespace" $root.Release.Namespace -}}
{{- $_ := set $o.metadata "labels" (include "tickler.labels" $root | fromYaml) -}}
{{- end -}}
{{- toYaml $objs -}}
{{- end -}}

{{/* The name of the Configuration in deploy/dapr/configuration.yaml (dapr.io/config). */}}
{{- define "tickler.daprConfigName" -}}
{{- (.Files.Get "dapr/configuration.yaml" | fromYaml).metadata.name -}}
{{- end -}}

{{/* A secretKeyRef env entry: (dict "env" NAME "ref" .Values.secrets.x) */}}
{{- define "tickler.secretEnv" -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | quote }}
      key: {{ .ref.key | quote }}
{{- end -}}

{{/* The data of a role's ConfigMap: (dict "root" $ "r" $role) */}}
{{- define "tickler.configData" -}}
{{- $v := .root.Values -}}
{{- $r := .r -}}
{{- $c := $v.config -}}
{{- $d := dict -}}
{{- $_ := set $d "USE_DAPR" (ternary "true" "false" (eq (toString $r.dapr) "true")) -}}
{{- $_ := set $d "TICKLER_DATA_DIR" "/var/lib/tickler" -}}
{{- $_ := set $d "TICKLER_LOG__LEVEL" $c.log.level -}}
{{- $_ := set $d "TICKLER_LOG__JSON" (toString $c.log.json) -}}
{{- $_ := set $d "TICKLER_POSTGRES__MAX_CONNECTIONS" (toString $c.postgres.maxConnections) -}}
{{- $_ := set $d "TICKLER_POSTGRES__MIGRATE_ON_START" (toString (not $v.migration.enabled)) -}}
{{- if $c.kafka.brokers -}}
{{- $_ := set $d "TICKLER_KAFKA__BROKERS" $c.kafka.brokers -}}
{{- $_ := set $d "TICKLER_KAFKA__SECURITY_PROTOCOL" $c.kafka.securityProtocol -}}
{{- $_ := set $d "TICKLER_KAFKA__CREATE_TOPICS" (toString $c.kafka.createTopics) -}}
{{- if $c.kafka.saslMechanism }}{{ $_ := set $d "TICKLER_KAFKA__SASL_MECHANISM" $c.kafka.saslMechanism }}{{ end -}}
{{- if $c.kafka.saslUsername }}{{ $_ := set $d "TICKLER_KAFKA__SASL_USERNAME" $c.kafka.saslUsername }}{{ end -}}
{{- /* The consumer groups are the Dapr app ids: a role keeps its offsets across the switch. */ -}}
{{- $_ := set $d "TICKLER_KAFKA__GROUPS__NOTIFICATION" $v.roles.notification.appId -}}
{{- $_ := set $d "TICKLER_KAFKA__GROUPS__EMAIL_DELIVERY" $v.roles.emailDelivery.appId -}}
{{- $_ := set $d "TICKLER_KAFKA__GROUPS__RECURRING" $v.roles.recurring.appId -}}
{{- else if not $r.dapr -}}
{{- fail (printf "roles.%s runs Kafka-direct (Dapr off): set config.kafka.brokers" $r.key) -}}
{{- end -}}
{{- if and (eq $r.role "email-delivery") $c.smtp.host -}}
{{- $_ := set $d "TICKLER_SMTP__HOST" $c.smtp.host -}}
{{- $_ := set $d "TICKLER_SMTP__PORT" (toString $c.smtp.port) -}}
{{- $_ := set $d "TICKLER_SMTP__TLS" $c.smtp.tls -}}
{{- $_ := set $d "TICKLER_SMTP__FROM_EMAIL" $c.smtp.fromEmail -}}
{{- $_ := set $d "TICKLER_SMTP__FROM_NAME" $c.smtp.fromName -}}
{{- if $c.smtp.username }}{{ $_ := set $d "TICKLER_SMTP__USERNAME" $c.smtp.username }}{{ end -}}
{{- end -}}
{{- if $r.dapr -}}
{{- $_ := set $d "TICKLER_DAPR__APP_LISTEN" (printf "127.0.0.1:%v" $v.ports.daprApp) -}}
{{- /* Component names as the files in deploy/dapr define them. */ -}}
{{- $pubsub := $.root.Files.Get (printf "dapr/components/pubsub-%s.yaml" $v.dapr.pubsub.type) | fromYaml -}}
{{- $state := $.root.Files.Get (printf "dapr/components/statestore-%s.yaml" $v.dapr.stateStore.type) | fromYaml -}}
{{- $_ := set $d "TICKLER_DAPR__PUBSUB" (required "unknown dapr.pubsub.type" $pubsub.metadata).name -}}
{{- $_ := set $d "TICKLER_DAPR__STATESTORE" (required "unknown dapr.stateStore.type" $state.metadata).name -}}
{{- if $v.dapr.credentialsFromSecretStore -}}
{{- $store := $.root.Files.Get "dapr/components/secretstore-kubernetes.yaml" | fromYaml -}}
{{- $_ := set $d "TICKLER_DAPR__SECRETSTORE" $store.metadata.name -}}
{{- end -}}
{{- end -}}
{{- range $k, $val := $c.extraEnv }}{{ $_ := set $d $k (toString $val) }}{{ end -}}
{{- range $k, $val := $r.extraEnv }}{{ $_ := set $d $k (toString $val) }}{{ end -}}
{{- toYaml $d -}}
{{- end -}}

{{/* The secret environment of a role's container: (dict "root" $ "r" $role) */}}
{{- define "tickler.secretEnvList" -}}
{{- $v := .root.Values -}}
{{- $r := .r -}}
{{- $fromStore := and $r.dapr $v.dapr.credentialsFromSecretStore -}}
{{- include "tickler.secretEnv" (dict "env" "TICKLER_DATABASE_URL" "ref" (dict "name" (required "secrets.database.name is required" $v.secrets.database.name) "key" $v.secrets.database.key)) }}
{{- if not $fromStore }}
{{ include "tickler.secretEnv" (dict "env" "TICKLER_AUTH__SECRET" "ref" (dict "name" (required "secrets.auth.name is required (or dapr.credentialsFromSecretStore)" $v.secrets.auth.name) "key" $v.secrets.auth.key)) }}
{{- end }}
{{- if and (eq $r.role "email-delivery") $v.config.smtp.host $v.config.smtp.username }}
{{ include "tickler.secretEnv" (dict "env" "TICKLER_SMTP__PASSWORD" "ref" (dict "name" (required "secrets.smtp.name is required with config.smtp.username" $v.secrets.smtp.name) "key" $v.secrets.smtp.key)) }}
{{- end }}
{{- if and $v.config.kafka.brokers (hasPrefix "sasl_" $v.config.kafka.securityProtocol) }}
{{ include "tickler.secretEnv" (dict "env" "TICKLER_KAFKA__SASL_PASSWORD" "ref" (dict "name" (required "secrets.kafkaSasl.name is required with a sasl_* protocol" $v.secrets.kafkaSasl.name) "key" $v.secrets.kafkaSasl.key)) }}
{{- end }}
{{- if $r.dapr }}
{{- /* The injector gives these to daprd only; the app needs the same values. */}}
{{- if $v.dapr.apiTokenSecret }}
{{ include "tickler.secretEnv" (dict "env" "DAPR_API_TOKEN" "ref" (dict "name" $v.dapr.apiTokenSecret "key" "token")) }}
{{- end }}
{{- if $v.dapr.appTokenSecret }}
{{ include "tickler.secretEnv" (dict "env" "APP_API_TOKEN" "ref" (dict "name" $v.dapr.appTokenSecret "key" "token")) }}
{{- end }}
{{- end }}
{{- end -}}
